setTimeout(function(){ document.getElementById('footer').innerHTML = '<span>京ICP备12345678号-1</span>'; }, 300);
