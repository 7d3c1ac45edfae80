package riversys

import (
	"io"
	"log/slog"
)

// quietLogger keeps River's per-job and maintenance logs out of the table.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
