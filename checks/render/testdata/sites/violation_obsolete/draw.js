setTimeout(function(){ document.getElementById('footer').innerHTML = '<a href="http://www.miitbeian.gov.cn/">京ICP备12345678号-1</a>'; }, 300);
