// Runs before the first paint, so a dark-mode user never sees a white flash.
document.documentElement.dataset.theme =
  localStorage.getItem("ar-theme") ||
  (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
