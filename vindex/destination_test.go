package vindex

import "testing"

func TestDestinationString(t *testing.T) {
	for _, tc := range []struct {
		d    Destination
		want string
	}{
		{DestinationKeyspaceID{0x16, 0x6b}, "DestinationKeyspaceID(166b)"},
		{DestinationKeyspaceID(nil), "DestinationKeyspaceID()"},
		{DestinationKeyspaceIDs{{0x01}, {0x02, 0x03}}, "DestinationKeyspaceIDs(01,0203)"},
		{DestinationKeyspaceIDs{}, "DestinationKeyspaceIDs()"},
		{DestinationKeyRange(MustParseKeyRange("40-80")), "DestinationKeyRange(40-80)"},
		{DestinationKeyRange{}, "DestinationKeyRange(-)"},
		{DestinationNone{}, "DestinationNone()"},
	} {
		if got := tc.d.String(); got != tc.want {
			t.Errorf("String() = %q; want %q", got, tc.want)
		}
	}
}
