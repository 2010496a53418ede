package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
)

// profiles writes CPU, block and mutex profiles of one command into a
// directory, for a developer chasing where an audit's time goes (the
// hidden --profile-dir flag). Time spent waiting, not working, shows in the
// block and mutex profiles only: CPU profiles cannot see a lock held
// around I/O or a slot held too long.
type profiles struct {
	dir string
	cpu *os.File
}

// Block events shorter than this are sampled in proportion; a rate this
// coarse costs little while still catching waits of a millisecond.
const (
	blockProfileRateNS    = 10_000
	mutexProfileFraction  = 10
	profileFilePermission = 0o644
)

func startProfiles(dir string) (*profiles, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the profile directory: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, "cpu.pprof"))
	if err != nil {
		return nil, fmt.Errorf("creating the CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting the CPU profile: %w", err)
	}
	runtime.SetBlockProfileRate(blockProfileRateNS)
	runtime.SetMutexProfileFraction(mutexProfileFraction)
	return &profiles{dir: dir, cpu: f}, nil
}

// stop ends the CPU profile and writes the block, mutex and heap
// profiles; it reports the first error.
func (p *profiles) stop() error {
	pprof.StopCPUProfile()
	err := p.cpu.Close()
	for _, name := range []string{"block", "mutex", "heap", "goroutine"} {
		f, ferr := os.OpenFile(filepath.Join(p.dir, name+".pprof"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, profileFilePermission)
		if ferr == nil {
			ferr = pprof.Lookup(name).WriteTo(f, 0)
			if cerr := f.Close(); ferr == nil {
				ferr = cerr
			}
		}
		if err == nil && ferr != nil {
			err = fmt.Errorf("writing the %s profile: %w", name, ferr)
		}
	}
	runtime.SetBlockProfileRate(0)
	runtime.SetMutexProfileFraction(0)
	return err
}
