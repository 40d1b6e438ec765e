package mysqld

import (
	"bytes"
	"io"
	"os"
)

// tailBytes is how much of the end of a log file lastLinesOfFile reads.
const tailBytes = 16 << 10

// lastLinesOfFile returns the last n lines of the file at path, or a note
// saying why it could not be read. It is for error messages.
func lastLinesOfFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > tailBytes {
		if _, err := f.Seek(-tailBytes, io.SeekEnd); err != nil {
			return "(" + err.Error() + ")"
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return lastLines(b, n)
}

// lastLines returns the last n lines of b.
func lastLines(b []byte, n int) string {
	b = bytes.TrimRight(b, "\n")
	for i, end := 0, len(b); i < n; i++ {
		j := bytes.LastIndexByte(b[:end], '\n')
		if j < 0 {
			return string(b)
		}
		if i == n-1 {
			return string(b[j+1:])
		}
		end = j
	}
	return string(b)
}
