package harness

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// The helpers below do what a scheduler and a kubelet would do to a Pod, so
// that controllers (the EndpointSlice controller in particular) treat it as
// running. No container is started.

// EnsureNode creates a Ready Node called name if it does not exist.
func EnsureNode(ctx context.Context, c kubernetes.Interface, name string) error {
	_, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return err
	}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}}}
	_, err = c.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("harness: creating node %s: %w", name, err)
	}
	return setNodeReady(ctx, c, name)
}

// setNodeReady reports the Node Ready, as its kubelet would. Controllers
// touch a new Node too, hence the retry on conflict.
func setNodeReady(ctx context.Context, c kubernetes.Interface, name string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "StandIn", LastHeartbeatTime: now, LastTransitionTime: now}}
		_, err = c.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
}

// BindPod assigns the Pod to the node through its binding subresource, as the
// scheduler does.
func BindPod(ctx context.Context, c kubernetes.Interface, namespace, pod, node string) error {
	err := c.CoreV1().Pods(namespace).Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: namespace},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("harness: binding pod %s/%s to %s: %w", namespace, pod, node, err)
	}
	return nil
}

// SetPodRunning reports the Pod as a kubelet would: phase Running with the
// given IP, Ready (and ContainersReady) as ready.
func SetPodRunning(ctx context.Context, c kubernetes.Interface, namespace, pod, ip string, ready bool) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := c.CoreV1().Pods(namespace).Get(ctx, pod, metav1.GetOptions{})
		if err != nil {
			return err
		}
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		now := metav1.NewTime(time.Now())
		p.Status.Phase = corev1.PodRunning
		p.Status.PodIP = ip
		p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
		p.Status.HostIP = ip
		p.Status.HostIPs = []corev1.HostIP{{IP: ip}}
		if p.Status.StartTime == nil {
			p.Status.StartTime = &now
		}
		setCond := func(t corev1.PodConditionType, s corev1.ConditionStatus) {
			for i := range p.Status.Conditions {
				if p.Status.Conditions[i].Type == t {
					if p.Status.Conditions[i].Status != s {
						p.Status.Conditions[i].Status, p.Status.Conditions[i].LastTransitionTime = s, now
					}
					return
				}
			}
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: t, Status: s, LastTransitionTime: now})
		}
		setCond(corev1.PodScheduled, corev1.ConditionTrue)
		setCond(corev1.PodInitialized, corev1.ConditionTrue)
		setCond(corev1.ContainersReady, st)
		setCond(corev1.PodReady, st)
		_, err = c.CoreV1().Pods(namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		return err
	})
}
