package agent

import corev1 "k8s.io/api/core/v1"

// action is what the agent does next for a Pod.
type action int

const (
	actNone     action = iota
	actBind            // unscheduled: bind it to the agent's Node
	actStart           // bound here, alive, no process: start one
	actStop            // deleted (or ended) with a process running: SIGTERM, wait, SIGKILL
	actFinalize        // deleted, no process left: confirm the deletion (grace 0)
)

func (a action) String() string {
	return [...]string{"none", "bind", "start", "stop", "finalize"}[a]
}

// decide is the stand-in kubelet's rule for one Pod, given whether a process
// runs for it (running) or is being stopped (stopping).
func decide(p *corev1.Pod, node string, running, stopping bool) action {
	ours := p.Spec.NodeName == node
	switch {
	case p.DeletionTimestamp != nil:
		if !ours {
			return actNone
		}
		if running && !stopping {
			return actStop
		}
		if !running && !stopping {
			return actFinalize
		}
		return actNone
	case p.Spec.NodeName == "":
		return actBind
	case !ours:
		return actNone
	case p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed:
		if running && !stopping {
			return actStop
		}
		return actNone
	case !running && !stopping:
		return actStart
	}
	return actNone
}
