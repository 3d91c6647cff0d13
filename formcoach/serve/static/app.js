// formcoach workspace: a click on a rep, a fault or a bar (anything with class "seek" and a
// data-t in seconds) moves the video of its pane (or the page's #video) to that moment.
"use strict";
(function () {
  function videoFor(el) {
    var pane = el.closest(".pane");
    if (pane) { return pane.querySelector("video"); }
    return document.getElementById("video");
  }
  function clock(t) {
    var m = Math.floor(t / 60), s = t - 60 * m;
    return m + ":" + (s < 10 ? "0" : "") + s.toFixed(1);
  }
  function seek(el) {
    var t = parseFloat(el.getAttribute("data-t"));
    var v = videoFor(el);
    if (!v || !isFinite(t)) { return; }
    v.pause();
    v.currentTime = Math.max(0, t);
    document.querySelectorAll(".seek.active").forEach(function (x) { x.classList.remove("active"); });
    el.classList.add("active");
  }
  document.addEventListener("click", function (e) {
    var el = e.target.closest ? e.target.closest(".seek") : null;
    if (el) { seek(el); }
  });
  document.addEventListener("keydown", function (e) {
    if ((e.key === "Enter" || e.key === " ") && e.target.classList && e.target.classList.contains("seek")) {
      e.preventDefault();
      seek(e.target);
    }
  });
  // The import sends the file's own time (the upload's copy would be dated now).
  var file = document.querySelector("#import input[type=file]");
  var last = document.getElementById("last-modified");
  if (file && last) {
    file.addEventListener("change", function () {
      last.value = file.files.length ? String(file.files[0].lastModified) : "";
    });
  }
  var v = document.getElementById("video"), now = document.getElementById("now");
  if (v && now) {
    v.addEventListener("timeupdate", function () { now.textContent = clock(v.currentTime); });
    v.addEventListener("seeked", function () { now.textContent = clock(v.currentTime); });
  }
})();
