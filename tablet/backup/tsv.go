package backup

import "bytes"

// Chunks hold rows in the text format LOAD DATA reads by default: fields
// separated by tabs, rows ended by newlines, NULL as \N, and backslash,
// tab, newline, carriage return and NUL escaped with a backslash.

// appendRow appends one row to buf; a nil value is NULL.
func appendRow(buf []byte, values [][]byte) []byte {
	for i, v := range values {
		if i > 0 {
			buf = append(buf, '\t')
		}
		if v == nil {
			buf = append(buf, '\\', 'N')
			continue
		}
		for _, c := range v {
			switch c {
			case '\\':
				buf = append(buf, '\\', '\\')
			case '\t':
				buf = append(buf, '\\', 't')
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case 0:
				buf = append(buf, '\\', '0')
			default:
				buf = append(buf, c)
			}
		}
	}
	return append(buf, '\n')
}

// parseRows splits data written by appendRow back into rows of values; it
// is the inverse of appendRow (used by tests and by verification of a
// chunk's own checksum).
func parseRows(data []byte, fn func(values [][]byte)) {
	var values [][]byte
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		values = values[:0]
		for _, field := range bytes.Split(line, []byte{'\t'}) {
			if len(field) == 2 && field[0] == '\\' && field[1] == 'N' {
				values = append(values, nil)
				continue
			}
			v := make([]byte, 0, len(field))
			for i := 0; i < len(field); i++ {
				c := field[i]
				if c == '\\' && i+1 < len(field) {
					i++
					switch field[i] {
					case 't':
						c = '\t'
					case 'n':
						c = '\n'
					case 'r':
						c = '\r'
					case '0':
						c = 0
					default:
						c = field[i]
					}
				}
				v = append(v, c)
			}
			values = append(values, v)
		}
		fn(values)
	}
}
