(function(){
  var app = document.getElementById('app');
  function h(tag, attrs, kids){ var e = document.createElement(tag); for (var k in attrs) e.setAttribute(k, attrs[k]); (kids||[]).forEach(function(c){ e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); }); return e; }
  app.appendChild(h('header', {}, [h('h1', {}, ['Example Shop'])]));
  app.appendChild(h('main', {}, [h('p', {}, ['Products, prices and news, all drawn by this script.'])]));
  app.appendChild(h('footer', {'class': 'app-footer'}, ['© 2024 Example ', h('a', {href: 'https://beian.miit.gov.cn/#/Integrated/index'}, ['京ICP备12345678号-1'])]));
})();
