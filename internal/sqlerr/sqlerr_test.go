package sqlerr

import (
	"context"
	"fmt"
	"testing"

	"vitess.io/vitess/go/mysql/sqlerror"
)

func TestFromKeepsCodeAndContext(t *testing.T) {
	base := New(sqlerror.ERDupEntry, "23000", "Duplicate entry '1' for key 'PRIMARY'")
	wrapped := fmt.Errorf("shard commerce/-80 (tablet zone1-100): %w", base)
	got := From(wrapped)
	if got.Num != sqlerror.ERDupEntry || got.State != "23000" {
		t.Fatalf("code/state = %d/%s, want 1062/23000", got.Num, got.State)
	}
	want := "shard commerce/-80 (tablet zone1-100): Duplicate entry '1' for key 'PRIMARY'"
	if got.Message != want {
		t.Fatalf("message = %q, want %q", got.Message, want)
	}
	if From(base) != base {
		t.Fatal("an unwrapped SQLError must be returned as is")
	}
}

func TestFromMapsContextAndPlainErrors(t *testing.T) {
	cases := []struct {
		err   error
		code  sqlerror.ErrorCode
		state string
	}{
		{fmt.Errorf("execute: %w", context.DeadlineExceeded), erStatementTimeout, "70100"},
		{context.Canceled, sqlerror.ERQueryInterrupted, "70100"},
		{fmt.Errorf("no healthy tablet"), sqlerror.ERUnknownError, "HY000"},
	}
	for _, c := range cases {
		got := From(c.err)
		if got.Num != c.code || got.State != c.state {
			t.Errorf("From(%v) = %d/%s, want %d/%s", c.err, got.Num, got.State, c.code, c.state)
		}
	}
	if From(nil) != nil {
		t.Error("From(nil) must be nil")
	}
}

func TestUnsupportedIs1235(t *testing.T) {
	err := Unsupported("ORDER BY in a query that spans shards (table %s)", "t")
	if err.Num != 1235 || err.State != "42000" {
		t.Fatalf("got %d/%s", err.Num, err.State)
	}
}

func TestReasonSurvivesWrappingAndKeepsTheClientError(t *testing.T) {
	base := New(sqlerror.ERQueryInterrupted, "70100", "statement killed")
	err := fmt.Errorf("shard commerce/-80: %w", WithReason(ReasonTransactionEnded, fmt.Errorf("%w; transaction 7 was rolled back", base)))
	if got := ReasonOf(err); got != ReasonTransactionEnded {
		t.Fatalf("ReasonOf = %v, want TRANSACTION_ENDED", got)
	}
	if !HasReason(err, ReasonTransactionEnded) || HasReason(err, ReasonTransactionNotFound) {
		t.Fatal("HasReason disagrees with ReasonOf")
	}
	se := From(err)
	if se.Num != sqlerror.ERQueryInterrupted || se.State != "70100" || se.Message != "shard commerce/-80: statement killed; transaction 7 was rolled back" {
		t.Fatalf("client error = %d/%s %q", se.Num, se.State, se.Message)
	}
	if ReasonOf(base) != 0 || HasReason(base, 0) {
		t.Fatal("an error without a reason has REASON_UNSPECIFIED, which no one acts on")
	}
	if WithReason(ReasonTransactionEnded, nil) != nil {
		t.Fatal("WithReason(nil) must stay nil")
	}
}

func TestWritesSwitchingIsRecognizedByReasonNotText(t *testing.T) {
	err := WritesSwitching("commerce", "-80")
	se := From(err)
	if se.Num != ErOptionPreventsStatement || se.Message != "shard commerce/-80 is switching its writes to other shards (resharding): retry on the shards now serving" {
		t.Fatalf("client error = %d %q", se.Num, se.Message)
	}
	if !IsWritesSwitching(fmt.Errorf("execute: %w", err)) {
		t.Fatal("a wrapped WritesSwitching error is not recognized")
	}
	// The same text without the reason (what a client could make MySQL
	// say) is not the shard's refusal.
	if IsWritesSwitching(New(ErOptionPreventsStatement, "HY000", "%s", se.Message)) {
		t.Fatal("IsWritesSwitching matched on the text")
	}
}
