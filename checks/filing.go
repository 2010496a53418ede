package checks

// ICPNumber is a parsed ICP filing number: an entity number
// (京ICP备12345678号) or a site number with a suffix (京ICP备12345678号-1,
// -2A for an APP, -3X a mini-program, -4K a quick app).
type ICPNumber struct {
	Province rune   // canonical province character (aliases folded: 蜀→川, 黔→贵, 滇→云, 陇→甘)
	Digits   string // 6–10 digits
	Suffix   string // "" for an entity number; else "1", "2A", ...
}

// PSBNumber is a parsed public-security filing number (京公网安备11010802012345号).
type PSBNumber struct {
	Province rune   // province character as written, canonicalised
	Code     string // 14 digits, the first two the province code
}
