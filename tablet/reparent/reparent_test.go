package reparent

import (
	"strings"
	"testing"

	"github.com/shardgate/shardgate/internal/gtidpos"
	"github.com/shardgate/shardgate/proto/topopb"
)

func TestMostAdvancedChoosesTheReplicaThatReceivedMost(t *testing.T) {
	st := func(typ topopb.TabletType, received string) replicaStatus {
		return replicaStatus{tablet: &topopb.Tablet{Type: typ}, received: gtidpos.MustParse(received)}
	}
	replica, rdonly := topopb.TabletType_REPLICA, topopb.TabletType_RDONLY
	for _, tc := range []struct {
		name     string
		statuses map[string]replicaStatus
		want     string
		wantErr  string
	}{
		{"ahead wins", map[string]replicaStatus{"zone1-101": st(replica, "0-100-10"), "zone1-102": st(replica, "0-100-12")}, "zone1-102", ""},
		{"equal: lowest alias, a stable choice", map[string]replicaStatus{"zone1-102": st(replica, "0-100-12"), "zone1-101": st(replica, "0-100-12")}, "zone1-101", ""},
		{"rdonly never", map[string]replicaStatus{"zone1-101": st(replica, "0-100-10"), "zone1-103": st(rdonly, "0-100-20")}, "zone1-101", ""},
		{"several domains", map[string]replicaStatus{"a": st(replica, "0-100-10,1-100-5"), "b": st(replica, "0-100-10,1-100-6")}, "b", ""},
		{"diverged", map[string]replicaStatus{"a": st(replica, "0-100-10,1-100-5"), "b": st(replica, "0-100-11,1-100-4")}, "", "diverge"},
		{"none", map[string]replicaStatus{"c": st(rdonly, "0-100-10")}, "", "no replica answered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mostAdvanced(tc.statuses)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("mostAdvanced = %q, %v; want an error saying %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("mostAdvanced = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
