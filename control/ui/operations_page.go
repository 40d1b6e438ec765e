package ui

import (
	"context"
	"fmt"
	"net/http"

	"github.com/shardgate/shardgate/control/transactions"
)

type operationsView struct {
	page
	Workflows    []Workflow
	Running      []RunningOp
	Transactions []transactions.TransactionStatus
	Interval     string
	Problems     []string
}

// operationsPage shows what runs now: resharding workflows with their
// copy progress, backups, restores and verifications on tablets, and
// two-phase commits in flight or waiting for recovery.
func (s *Server) operationsPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	v := operationsView{page: s.livePage(r, "Operations", "operations"), Interval: s.sampler.Config().Interval.String()}
	v.Windows = nil
	keyspaces, err := s.ts.ListKeyspaces(ctx)
	if err != nil {
		v.Problems = append(v.Problems, fmt.Sprintf("keyspaces: %v", err))
	}
	for _, ks := range keyspaces {
		flows, problems := s.workflows(ctx, ks.Name)
		v.Workflows = append(v.Workflows, flows...)
		v.Problems = append(v.Problems, problems...)
	}
	v.Running = s.runningOps("")
	if v.Transactions, err = transactions.ListTransactions(ctx, s.ts); err != nil {
		v.Problems = append(v.Problems, fmt.Sprintf("transactions: %v", err))
	}
	v.Problems = append(v.Problems, s.samplerProblems()...)
	s.renderLive(w, r, "operations", v)
}
