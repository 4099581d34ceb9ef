package logs

import (
	"context"
	"errors"
)

// Local: the local target runs on Linux only.
type Local struct{}

func NewLocal(string) (*Local, error) {
	return nil, errors.New("the local target runs on Linux only")
}

func (*Local) Hosts() []string { return nil }
func (*Local) Services(string) ([]string, error) {
	return nil, errors.New("the local target runs on Linux only")
}
func (*Local) Read(context.Context, Query, func(Line) error) error {
	return errors.New("the local target runs on Linux only")
}
