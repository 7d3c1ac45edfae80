// Package jobstest holds the conformance suite of jobs.LogStore. Every
// implementation (the in-memory fake, the Olric store) runs the same
// TestLogStore, so code written against the fake behaves the same on a
// cluster.
package jobstest
