"""What the benchmark scripts (bench.py, registrations.py, scale.py,
transfers.py) share, one module per concern:

* ``paths``     -- where the repository, bench/ and bench/results/ are;
* ``command``   -- running a benchmark as a command: the error it stops on,
                   the signals that stop it, its exit status, and the output
                   of the tools it asks about;
* ``dnsclient`` -- a minimal DNS client: enough to poll readiness and compare
                   answers;
* ``procfs``    -- CPU time, peak RSS and a core's busy time from /proc;
* ``servers``   -- cairn, NSD and Knot, each started on its own port and
                   stopped by its PID;
* ``dnsperf``   -- the load generator, run and parsed;
* ``measure``   -- one server measured: readiness, sample answers, the loads;
* ``report``    -- the results as the Markdown table and notes;
* ``live``      -- cairn as it runs in production, and a client of its admin
                   API (the registration and scale benchmarks).
* ``sigv4``     -- AWS Signature Version 4 for a Cloud Map call (api_load.py);
* ``apimode``   -- ``--registrations --api``: TCP+SigV4 against the socket;
* ``secondaries`` -- NSD and Knot as secondaries from examples/, a TSIG key,
                   and Knot as a primary (``--transfers``).

Standard library only. The data set is ``bench/gen.py``'s, imported as
``gen``: the scripts run from bench/, which is then on their path.
"""
