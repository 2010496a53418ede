package beian

// Status is a filing status.
type Status string

const (
	StatusFiled              Status = "filed"
	StatusFirstFilingPending Status = "first_filing_pending"
	StatusChangePending      Status = "change_pending"
	StatusAccessPending      Status = "access_pending"
	StatusCancelled          Status = "cancelled"
)

// Statuses returns every valid filing status. The slice is the caller's.
func Statuses() []Status {
	return []Status{StatusFiled, StatusFirstFilingPending, StatusChangePending, StatusAccessPending, StatusCancelled}
}

// ParseStatus validates a filing status.
func ParseStatus(s string) (Status, bool) {
	switch st := Status(s); st {
	case StatusFiled, StatusFirstFilingPending, StatusChangePending, StatusAccessPending, StatusCancelled:
		return st, true
	}
	return "", false
}

// Contact is one filing contact: a role and a phone number as written in the
// filing. The number is personal data: never log or label it unmasked.
type Contact struct {
	Role  string
	Phone string
}

// Site is one filed website, as the checks see it.
type Site struct {
	Domain   string // ASCII (punycode) lower-case domain
	ICP      *ICPNumber
	PSB      *PSBNumber
	Status   Status
	Entity   string
	URL      string // homepage override; empty means https://DOMAIN/ then http://
	IPRanges []IPRange
	Contacts []Contact
}
