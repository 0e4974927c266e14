// "My calendar feed" (templates/admin/feed/my_feed.html): select the URL on click, copy it, and ask
// before resetting it. A file rather than inline handlers: the Content-Security-Policy runs no
// inline script.
"use strict";
{
  const url = document.getElementById("feed-url");
  const copy = document.getElementById("copy-feed-url");
  const reset = document.getElementById("reset-feed");
  if (url) {
    url.addEventListener("click", () => url.select());
  }
  if (url && copy) {
    copy.addEventListener("click", () => {
      if (!navigator.clipboard) {
        url.select();
        return;
      }
      navigator.clipboard.writeText(url.value).then(() => {
        copy.textContent = "Copied";
      });
    });
  }
  if (reset) {
    reset.addEventListener("submit", (event) => {
      if (!window.confirm(reset.dataset.confirm)) {
        event.preventDefault();
      }
    });
  }
}
