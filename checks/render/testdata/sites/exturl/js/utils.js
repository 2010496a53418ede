document.querySelectorAll('span.exturl').forEach(function (el) {
  var a = document.createElement('a');
  a.href = decodeURIComponent(escape(atob(el.dataset.url)));
  a.rel = 'noopener external nofollow noreferrer';
  a.className = el.className; a.innerHTML = el.innerHTML;
  el.parentNode.replaceChild(a, el);
});
