/*
Copyright The Archon Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package localplane

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"time"
)

// process is a binary the plane started, with its output in a log file.
type process struct {
	name    string
	logPath string
	// logStart is the size of the log file when the process started: the
	// file is appended to across restarts.
	logStart int64
	cmd      *exec.Cmd
	exited   chan struct{}
	err      error
	// stopping is set once the plane asks the process to stop, so that its
	// end is not mistaken for a crash.
	stopping atomic.Bool
}

// startProcess starts binary with extra environment variables (nil for
// none).
func startProcess(name, binary, logPath string, env []string, args ...string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	info, err := logFile.Stat()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	// Children die with the plane even if it is killed without cleanup.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, logPath: logPath, logStart: info.Size(), cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	return p, nil
}

// exitError reports the process's end and the tail of its log if it has
// exited, and nil while it runs.
func (p *process) exitError() error {
	select {
	case <-p.exited:
		cause := p.err
		if cause == nil {
			cause = errors.New("exit status 0")
		}
		return fmt.Errorf("%s exited (%w); last lines of %s:\n%s", p.name, cause, p.logPath, logTail(p.logPath, 20))
	default:
		return nil
	}
}

// lostPort is true if the process has exited because another process had
// bound its port.
func (p *process) lostPort() bool {
	select {
	case <-p.exited:
	default:
		return false
	}
	f, err := os.Open(p.logPath)
	if err != nil {
		return false
	}
	defer f.Close()
	output, err := io.ReadAll(io.NewSectionReader(f, p.logStart, 1<<20))
	return err == nil && bytes.Contains(output, []byte("address already in use"))
}

// stop asks the process to terminate and kills it after grace.
func (p *process) stop(grace time.Duration) {
	p.stopping.Store(true)
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

func logTail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	all := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return string(bytes.Join(all, []byte("\n")))
}
