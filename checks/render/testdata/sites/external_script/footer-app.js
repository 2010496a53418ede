document.getElementById('footer').innerHTML = '<a href="https://beian.miit.gov.cn/">京ICP备12345678号-1</a>';
