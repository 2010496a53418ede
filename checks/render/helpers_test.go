package render

import (
	"errors"
	"fmt"
)

func fmtSscan(s string, v *int) (int, error) { return fmt.Sscan(s, v) }

func errorf(msg string) error { return errors.New(msg) }
