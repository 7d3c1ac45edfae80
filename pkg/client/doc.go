// Package client is shoal's public API: the NATS subjects and JSON bodies the
// workers serve, the decoders the workers use to read them, and the Go client
// that the submit command is built on.
//
// # Subjects
//
// Every worker serves the API subjects in the NATS queue group "shoal", so a
// request reaches exactly one worker, whichever the client is connected to.
// Bodies are JSON. A reply is either the documented reply or an error reply
// {"error":{"code":"...","message":"..."}}, with code one of bad_request,
// unknown_type, too_large, not_found, duplicate, unavailable, internal.
//
//	subject             request body                               reply
//	shoal.api.submit    {"jobs":[JobSpec, ...]}  (1 to 500 jobs)   {"results":[{"id":"..."} | {"error":{...}}, ...]}
//	shoal.api.status    {"id":"<32 hex>"}                          {"job":Job}
//	shoal.api.cancel    {"id":"<32 hex>"}                          {"job":Job}
//	shoal.api.list      {"state":"dead","queue":"q","limit":100}   {"jobs":[Job, ...],"truncated":true}
//	shoal.api.stats     empty                                      {"counts":{"queued":3,...},"nodes":{"n1":{...}}}
//	shoal.api.members   empty                                      {"members":[{"name","address","state","shards","running"}],"shards":N}
//
// A JobSpec is
//
//	{"type":"echo", "payload":{...}, "queue":"mail", "priority":10,
//	 "run_at":"2030-01-02T15:04:05Z" | "delay":"30s",
//	 "max_attempts":5, "timeout":"1m", "unique_key":"order-42", "unique_ttl":"1h"}
//
// where only type is required. Durations are Go duration strings ("1.5s",
// "250ms", "2h") or numbers of milliseconds. run_at and delay exclude each
// other. Requests are decoded strictly: an unknown field (a misspelled
// "runat", say) or anything after the JSON object refuses the whole request
// with bad_request, rather than silently ignoring what the sender meant.
// Within a valid submit request each job is accepted or refused on its own:
// results are in request order, and a result with an id and no error is
// acknowledged (durable, bound to reach an end state). A duplicate's result
// carries both the error and the id of the job that holds the unique key.
//
// Events are published on shoal.events.job.<state> (queued, scheduled,
// running, succeeded, dead, cancelled) and shoal.events.cluster.<kind>, each
// body an Event: {"time","kind","node","job_id","type","state","detail"}.
//
// # Using the nats CLI
//
// Nothing here needs the Go client; with the nats CLI (add --server and
// --user/--password or a token context as needed):
//
//	nats req shoal.api.submit '{"jobs":[{"type":"echo","payload":{"hi":1}}]}'
//	nats req shoal.api.submit '{"jobs":[{"type":"sleep","payload":{"ms":200},"delay":"10s"}]}'
//	nats req shoal.api.status '{"id":"6f1c0e0c3b8a4d21a9f0e3d2c1b0a998"}'
//	nats req shoal.api.cancel '{"id":"6f1c0e0c3b8a4d21a9f0e3d2c1b0a998"}'
//	nats req shoal.api.list '{"state":"dead","limit":10}'
//	nats req shoal.api.stats ''
//	nats req shoal.api.members ''
//	nats sub 'shoal.events.>'
//	nats sub 'shoal.events.job.dead'
//
// # Server side
//
// A worker decodes requests with DecodeSubmitRequest, DecodeStatusRequest,
// DecodeCancelRequest and DecodeListRequest, calls JobSpec.Validate on each
// submitted job, and answers failures with ReplyError or ReplyFromError. The
// decoders return *Error values whose code is ready for the reply.
//
// # Go client
//
// Dial connects to any worker (Config.Servers; the submit command's --server
// or SHOAL_SERVER) with the cluster's secret as NATS token (--secret or
// SHOAL_SECRET). Errors match the sentinels of their codes with errors.Is
// (ErrNotFound, ErrUnknownType, ...); transport failures are ErrUnreachable
// (Dial found no server), ErrUnauthorized (the secret was refused),
// ErrUnavailable (no worker serves the subject) and ErrTimeout (no reply
// within Config.Timeout).
package client
