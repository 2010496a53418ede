package farm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"strings"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// Page is a site's homepage as the farm serves it.
type Page struct {
	ContentType string
	Body        []byte
}

// body of a real-looking company homepage: enough visible text that no
// placeholder rule applies, the footer at the bottom inside <footer>.
const pageHead = `<!DOCTYPE html>
<html lang="zh-CN">
<head>
%s<title>%s</title>
<style>footer{color:#666;font-size:12px}</style>
</head>
<body>
<header><nav><a href="/">首页</a> <a href="/about">关于我们</a> <a href="/products">产品服务</a> <a href="/contact">联系我们</a></nav></header>
<main>
<h1>%s</h1>
<p>%s成立于二〇一二年，专注于企业信息化建设、云计算解决方案与软件开发服务，为超过三千家客户提供稳定可靠的技术支持。</p>
<p>我们的团队由经验丰富的工程师组成，坚持以客户为中心，提供从咨询、设计、实施到运维的一站式服务。欢迎来电咨询合作事宜。</p>
<h2>新闻动态</h2>
<ul><li>公司荣获年度优秀服务商称号</li><li>新一代数据平台正式上线，全面提升客户体验</li><li>春节期间客服安排通知</li></ul>
</main>
`

const pageFoot = `</body>
</html>
`

// Page renders the homepage of s. GBK pages declare their charset only in a
// <meta http-equiv> tag, as many older Chinese sites do, so the fetcher's
// meta sniffing is what decodes them.
func (s *Site) Page() Page {
	if s.State == Placeholder {
		return Page{ContentType: "text/html", Body: []byte(nginxWelcome)}
	}
	gbk := s.State == CompliantGBK
	meta := `<meta charset="utf-8">` + "\n"
	ctype := "text/html; charset=utf-8"
	if gbk {
		meta = `<meta http-equiv="Content-Type" content="text/html; charset=gbk">` + "\n"
		ctype = "text/html"
	}
	name := html.EscapeString(s.Entity)
	var b bytes.Buffer
	fmt.Fprintf(&b, pageHead, meta, name, name, name)
	var foot strings.Builder
	foot.WriteString("<p>Copyright 2024 " + name + " 版权所有</p>\n<p>")
	foot.WriteString(s.icpHTML())
	if psb := s.psbHTML(); psb != "" {
		foot.WriteString(" | ")
		foot.WriteString(psb)
	}
	foot.WriteString("</p>\n")
	if s.Scripted {
		// The footer as a single-page app draws it: after load, from a
		// string in a script; the static HTML has an empty block.
		js, _ := json.Marshal(foot.String())
		b.WriteString("<footer id=\"footer\"></footer>\n<script>\nwindow.addEventListener('load', function () {\n  setTimeout(function () { document.getElementById('footer').innerHTML = ")
		b.Write(js)
		b.WriteString("; }, 50);\n});\n</script>\n")
	} else {
		b.WriteString("<footer>\n" + foot.String() + "</footer>\n")
	}
	b.WriteString(pageFoot)
	if !gbk {
		return Page{ContentType: ctype, Body: b.Bytes()}
	}
	enc, err := simplifiedchinese.GBK.NewEncoder().Bytes(b.Bytes())
	if err != nil {
		// Every character of the template and the generated names is in
		// GBK; reaching this is a bug in the farm, served loudly.
		return Page{ContentType: "text/html; charset=utf-8", Body: []byte("farm: GBK encoding failed: " + html.EscapeString(err.Error()))}
	}
	return Page{ContentType: ctype, Body: enc}
}

func (s *Site) icpHTML() string {
	num := s.ICP.String()
	switch s.State {
	case ICPMissing:
		return ""
	case ICPWrong:
		num = s.OtherICP.String()
	case LinkMissing:
		return num
	case LinkObsolete:
		return `<a href="http://www.miitbeian.gov.cn/" target="_blank">` + num + `</a>`
	}
	return `<a href="https://beian.miit.gov.cn/" target="_blank">` + num + `</a>`
}

func (s *Site) psbHTML() string {
	if s.PSB == nil || s.State == PSBMissing {
		return ""
	}
	num := s.PSB.String()
	if s.State == PSBUnlinked {
		return num
	}
	return `<a href="https://beian.mps.gov.cn/#/query/webSearch?code=` + s.PSB.Code + `" target="_blank">` + num + `</a>`
}

// nginxWelcome is nginx's stock index.html.
const nginxWelcome = `<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
`
