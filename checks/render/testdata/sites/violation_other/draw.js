setTimeout(function(){ document.getElementById('footer').innerHTML = '<a href="https://beian.miit.gov.cn/">京ICP备87654321号-1</a>'; }, 300);
