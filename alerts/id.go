package alerts

import (
	"crypto/sha1" //nolint:gosec // UUIDv5 is defined over SHA-1; it names, it does not protect.
	"encoding/hex"
)

// noticeNamespace is the UUID namespace of beianwatch notice IDs. It is
// itself the UUIDv5 of "beianwatch.notice" in the RFC 9562 URL namespace
// (7aa70fc6-6871-5c2a-a80a-5511ea55c038) and must never change: changing it would make every retry after an
// upgrade look like a new notice.
var noticeNamespace = [16]byte{
	0x7a, 0xa7, 0x0f, 0xc6, 0x68, 0x71, 0x5c, 0x2a,
	0xa8, 0x0a, 0x55, 0x11, 0xea, 0x55, 0xc0, 0x38,
}

// NoticeID derives the notice ID, which doubles as the idempotency key,
// from what identifies a notice: its kind, its type, its subject (the site's
// domain, or the check name for a storm) and the transition batch id.
//
// The ID is a name-based UUID (version 5, RFC 9562) of
// kind "\n" type "\n" subject "\n" batch in a fixed namespace: the same
// inputs give the same ID on every retry, restart or daemon, and any
// receiver that stores UUIDs can store it. batch must be durable (for
// example the id of the stored state change), never a time of day.
func NoticeID(kind, typ, subject, batch string) string {
	return uuidV5(noticeNamespace, kind+"\n"+typ+"\n"+subject+"\n"+batch)
}

// uuidV5 implements RFC 9562 §5.5 with the standard library only.
func uuidV5(ns [16]byte, name string) string {
	h := sha1.New() //nolint:gosec // see import comment
	h.Write(ns[:])
	h.Write([]byte(name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = (u[6] & 0x0f) | 0x50 // version 5
	u[8] = (u[8] & 0x3f) | 0x80 // RFC 4122 variant
	var buf [36]byte
	hex.Encode(buf[0:8], u[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], u[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], u[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], u[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], u[10:])
	return string(buf[:])
}
