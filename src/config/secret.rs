use std::fmt;

use serde::{Deserialize, Deserializer};

/// The placeholder Alertmanager prints for secrets, and accepts back as "unchanged".
pub const SECRET_TOKEN: &str = "<secret>";

/// A credential or credential-bearing URL. It prints as `<secret>` everywhere (logs, Debug,
/// `/api/v2/status`), so it cannot leak by accident.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The real value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SECRET_TOKEN)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Where a secret comes from: written in the config, or read from a file when it is used, so a
/// rotated credential file takes effect without a reload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    Inline(Secret),
    File(String),
}

impl SecretSource {
    /// Picks between the inline and `_file` variants of one setting; both set is an error.
    pub fn from_pair(
        inline: Option<Secret>,
        file: Option<String>,
        field: &str,
    ) -> Result<Option<SecretSource>, BothSecretForms> {
        match (inline, file) {
            (Some(_), Some(_)) => Err(BothSecretForms {
                field: field.to_string(),
            }),
            (Some(s), None) => Ok(Some(SecretSource::Inline(s))),
            (None, Some(f)) => Ok(Some(SecretSource::File(f))),
            (None, None) => Ok(None),
        }
    }

    pub fn read(&self) -> std::io::Result<Secret> {
        match self {
            SecretSource::Inline(s) => Ok(s.clone()),
            SecretSource::File(path) => {
                let text = std::fs::read_to_string(path)?;
                Ok(Secret(text.trim().to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "<secret>");
        assert_eq!(s.expose(), "hunter2");
    }
}

/// A secret given both inline and as a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at most one of {field} & {field}_file must be configured")]
pub struct BothSecretForms {
    pub field: String,
}
