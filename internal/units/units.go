// Package units prints quantities for people: byte counts in KiB, MiB
// and GiB, as the CLI's progress lines, the tablets' logs and the admin
// UI all show them.
package units

import "fmt"

// Bytes prints n bytes in the largest binary unit that keeps it at or
// above one ("512 B", "1.5 KiB", "12.3 MiB", "1.02 GiB").
func Bytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
