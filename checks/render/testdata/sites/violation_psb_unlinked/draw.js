setTimeout(function(){ document.getElementById('footer').innerHTML = '<a href="https://beian.miit.gov.cn/">京ICP备12345678号-1</a> <span>京公网安备11010802012345号</span>'; }, 300);
