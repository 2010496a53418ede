// Injected before any script of the page: it counts DOM mutations and the
// short timers still pending, so the renderer knows when the page has
// finished drawing, and it silences dialogs, which would stall the tab.
(() => {
  if (window.__beianwatch) return;
  const st = { mutations: 0, timers: 0, lastMutation: Date.now() };
  Object.defineProperty(window, '__beianwatch', { value: st, enumerable: false });
  const shortTimer = 10000; // timers longer than this are not waited for
  const origSet = window.setTimeout, origClear = window.clearTimeout;
  const pending = new Set();
  window.setTimeout = function (fn, delay, ...args) {
    const d = Number(delay) || 0;
    let id;
    const wrapped = function () {
      if (pending.delete(id)) st.timers--;
      return typeof fn === 'function' ? fn.apply(this, args) : undefined;
    };
    id = origSet.call(window, typeof fn === 'function' ? wrapped : fn, delay);
    if (typeof fn === 'function' && d <= shortTimer) { pending.add(id); st.timers++; }
    return id;
  };
  window.clearTimeout = function (id) {
    if (pending.delete(id)) st.timers--;
    return origClear.call(window, id);
  };
  window.alert = () => {};
  window.confirm = () => false;
  window.prompt = () => null;
  window.print = () => {};
  const watch = () => {
    new MutationObserver(() => { st.mutations++; st.lastMutation = Date.now(); })
      .observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
  };
  if (document) watch();
})();
