package api

import (
	"errors"

	"go.temporal.io/sdk/temporal"
)

// refusalMessage is the human message of a workflow refusal.
func refusalMessage(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	return err.Error()
}

// refusalFields returns the field details a validation refusal carries.
func refusalFields(err error) map[string]string {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !appErr.HasDetails() {
		return nil
	}
	var fields map[string]string
	if appErr.Details(&fields) != nil {
		return nil
	}
	return fields
}
