setTimeout(function(){ document.getElementById('footer').innerHTML = '© 2024 Example Co., Ltd. All rights reserved.'; }, 300);
