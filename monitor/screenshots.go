package monitor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/beianwatch/beianwatch/monitor/console"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// storeScreenshots serves the console the footer screenshots failing
// rendered runs kept in the store.
type storeScreenshots struct{ st *store.Store }

var _ console.Screenshots = storeScreenshots{}

func (s storeScreenshots) List(ctx context.Context, domain string) ([]console.Screenshot, error) {
	infos, err := s.st.ListScreenshots(ctx, domain, 20)
	if err != nil {
		return nil, err
	}
	out := make([]console.Screenshot, 0, len(infos))
	for _, in := range infos {
		out = append(out, console.Screenshot{ID: strconv.FormatInt(in.ID, 10), TakenAt: in.TakenAt,
			Caption: fmt.Sprintf("%s check, rendered footer (%d KiB)", in.Check, (in.Bytes+1023)/1024)})
	}
	return out, nil
}

// errNoScreenshot is returned by Open for an id the site does not have.
var errNoScreenshot = errors.New("no such screenshot")

func (s storeScreenshots) Open(ctx context.Context, domain, id string) (io.ReadCloser, string, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil, "", fmt.Errorf("screenshot id %q: %w", id, errNoScreenshot)
	}
	sc, ok, err := s.st.ScreenshotByID(ctx, domain, n)
	if err != nil {
		return nil, "", err
	}
	if !ok {
		return nil, "", errNoScreenshot
	}
	return io.NopCloser(bytes.NewReader(sc.PNG)), "image/png", nil
}
