//! The routing tree drawn the way `amtool config routes` draws it.

use super::{RouteId, RouteTree};

fn slug(tree: &RouteTree, id: RouteId, show_continue: bool, show_receiver: bool) -> String {
    let route = tree.get(id);
    let mut s = if route.matchers.is_empty() {
        "default-route".to_string()
    } else {
        route.matchers.to_string()
    };
    if show_continue && route.continue_matching {
        s.push_str("  continue: true");
    }
    if show_receiver {
        s.push_str("  receiver: ");
        s.push_str(&route.receiver);
    }
    s
}

fn draw(
    id: RouteId,
    prefix: &str,
    last: bool,
    label: &dyn Fn(RouteId) -> Option<String>,
    children: &dyn Fn(RouteId) -> Vec<RouteId>,
    out: &mut String,
) {
    let Some(text) = label(id) else { return };
    out.push_str(prefix);
    out.push_str(if last { "└── " } else { "├── " });
    out.push_str(&text);
    out.push('\n');
    let kids = children(id);
    // amtool's tree printer pads the bar with two no-break spaces.
    let child_prefix = format!("{prefix}{}", if last { "    " } else { "│\u{a0}\u{a0} " });
    for (i, &child) in kids.iter().enumerate() {
        draw(
            child,
            &child_prefix,
            i + 1 == kids.len(),
            label,
            children,
            out,
        );
    }
}

/// The whole tree, as `amtool config routes show` prints it.
pub fn print_tree(tree: &RouteTree) -> String {
    let mut out = String::from(".\n");
    draw(
        0,
        "",
        true,
        &|id| Some(slug(tree, id, true, true)),
        &|id| tree.get(id).children.clone(),
        &mut out,
    );
    out
}

/// Only the paths to the matched routes, receivers shown on the matched routes, as
/// `amtool config routes test --tree` prints them.
pub fn print_matching_tree(tree: &RouteTree, matched: &[RouteId]) -> String {
    let on_path = |id: RouteId| -> bool {
        matched.iter().any(|&m| {
            let mut cur = Some(m);
            while let Some(c) = cur {
                if c == id {
                    return true;
                }
                cur = tree.get(c).parent;
            }
            false
        })
    };
    let mut out = String::from(".\n");
    draw(
        0,
        "",
        true,
        &|id| Some(slug(tree, id, false, matched.contains(&id))),
        &|id| {
            tree.get(id)
                .children
                .iter()
                .copied()
                .filter(|&c| on_path(c))
                .collect()
        },
        &mut out,
    );
    out
}
