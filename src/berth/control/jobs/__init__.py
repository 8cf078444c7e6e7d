"""Background jobs: kinds (what a job does), the context a running job reports through, the
service that enqueues and fires them, trigger evaluation, and the worker that runs them."""
