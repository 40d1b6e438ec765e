// Package transactions lists two-phase commits whose coordinator did not
// finish them and lets an operator resolve one, following the decision
// record the way the gate's own recovery does (topo/twopc), so that an
// operator and a recovering gate can never choose different outcomes.
package transactions
