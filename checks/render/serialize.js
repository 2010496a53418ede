// Serialises the rendered document as a person sees it, for the same
// footer rules as static HTML: open shadow roots replace their host's
// children (slots filled with what is assigned to them), same-origin
// frames are inlined in place of the frame element, and scripts,
// <noscript> fallbacks and templates are dropped: the scripts have run,
// and what they drew is in the tree. Cross-origin frames stay frame elements: their content
// cannot be read, and the rules treat them as such.
(maxBytes) => {
  const voids = new Set(['area','base','br','col','embed','hr','img','input','link','meta','param','source','track','wbr']);
  const out = [], vis = [];
  let size = 0, truncated = false, hidden = 0;
  // Two copies: everything, and only what CSS leaves visible; the rules
  // count hidden text as shown, and the second copy lets the result say
  // when the number is only in hidden elements.
  const push = (s) => {
    if (truncated) return;
    size += s.length;
    if (size > maxBytes) { truncated = true; return; }
    out.push(s);
    if (hidden === 0) vis.push(s);
  };
  const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const escAttr = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;');
  const attrs = (el) => {
    let s = '';
    for (const a of el.attributes) s += ' ' + a.name + '="' + escAttr(a.value) + '"';
    // An <a>'s live href may differ from its attribute (set through the
    // property); the attribute is what a browser follows, kept as is.
    return s;
  };
  const children = (node, depth) => {
    for (let c = node.firstChild; c; c = c.nextSibling) walk(c, depth);
  };
  const walk = (node, depth) => {
    if (truncated || depth > 600) return;
    switch (node.nodeType) {
      case Node.TEXT_NODE:
        push(esc(node.data));
        return;
      case Node.ELEMENT_NODE:
        break;
      case Node.DOCUMENT_FRAGMENT_NODE:
        children(node, depth + 1);
        return;
      default:
        return;
    }
    const tag = node.localName;
    if (tag === 'script' || tag === 'noscript' || tag === 'template') return;
    if (tag === 'slot') {
      const assigned = node.assignedNodes({ flatten: true });
      if (assigned.length) { for (const a of assigned) walk(a, depth + 1); }
      else children(node, depth + 1);
      return;
    }
    if (tag === 'iframe' || tag === 'frame') {
      let doc = null;
      try { doc = node.contentDocument; } catch (e) { doc = null; }
      if (doc && doc.body) {
        push('<div data-beianwatch-frame="' + escAttr(node.getAttribute('src') || '') + '">');
        walk(doc.body, depth + 1);
        push('</div>');
        return;
      }
      push('<' + tag + attrs(node) + '></' + tag + '>');
      return;
    }
    if (tag === 'frameset') {
      push('<div data-beianwatch-frameset="">');
      for (let c = node.firstElementChild; c; c = c.nextElementSibling) walk(c, depth + 1);
      push('</div>');
      return;
    }
    push('<' + tag + attrs(node) + '>');
    if (voids.has(tag)) return;
    const hides = hidden === 0 && typeof node.checkVisibility === 'function' &&
      !node.checkVisibility({ visibilityProperty: true });
    if (hides) hidden++;
    if (node.shadowRoot) children(node.shadowRoot, depth + 1);
    else children(node, depth + 1);
    if (hides) hidden--;
    push('</' + tag + '>');
  };
  const doc = document;
  push('<!DOCTYPE html>');
  walk(doc.documentElement, 0);
  return { html: out.join(''), visible: vis.join(''), truncated, url: location.href };
}
