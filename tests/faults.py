"""The fault table of docs/bad_inputs.md: what happens to a run, and what survives.

Each row names the test that checks it (scripts/bad_inputs.py writes the
table; tests/test_cli.py checks that the table and the tests agree).
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Fault:
  what: str  # The fault.
  happens: str  # What jaxmem does.
  survives: str  # What is kept, and how to go on.
  test: str  # module::test that checks it.


FAULTS = [
    Fault("SIGTERM (scheduler preemption)",
          "finishes the epoch, saves a checkpoint and waits for it, sets status "
          "`preempted` with the epoch, prints one line, exits 143",
          "everything; the same command resumes identically",
          "test_faults::test_signals_preempt_with_a_checkpoint_and_resume_identically[sigterm]"),
    Fault("SIGINT (Ctrl-C)", "the same, exit 130",
          "everything; the same command resumes identically",
          "test_faults::test_signals_preempt_with_a_checkpoint_and_resume_identically[sigint]"),
    Fault("a second SIGTERM or SIGINT", "exits at once (status `preempted`, "
          "`forced`), one line", "the newest checkpoint; the same command resumes "
          "identically", "test_faults::test_signals_preempt_with_a_checkpoint_and_"
          "resume_identically[sigterm_twice]"),
    Fault("SIGKILL at random moments", "dies", "the newest checkpoint and whole "
          "lines of metrics.jsonl; resumes identically",
          "test_resume::test_sigkill_at_random_moments_then_resume_is_identical"),
    Fault("a second jaxmem on a live workdir", "refused: one line naming the "
          "holder's pid and host, exit 2", "the first run, untouched; each "
          "metrics row once", "test_faults::test_a_second_writer_is_refused_and_the_"
          "first_run_is_untouched"),
    Fault("a lock left by a dead process", "taken over with a warning",
          "the run", "test_workdir::test_a_lock_left_by_a_dead_process_is_taken_over"),
    Fault("analyze or report on a live run", "one line: it is still running "
          "(pid, host)", "the run, unread", "test_workdir::test_a_live_writer_keeps_"
          "others_out_and_readers_say_it_runs"),
    Fault("a folder of someone else's files as --workdir (with or without "
          "--overwrite)", "refused, one line naming the files", "every file, "
          "untouched", "test_workdir::test_a_folder_of_foreign_files_survives_untouched"),
    Fault("--overwrite of a finished run", "removes only jaxmem's own files",
          "the user's files in the workdir, and in analysis/ and report/",
          "test_workdir::test_overwrite_removes_only_jaxmems_own_files"),
    Fault("a damaged jaxmem.json or status.json", "refused, one line; never read "
          "as 'no run here'", "every file", "test_workdir::test_a_damaged_marker_or_"
          "status_never_counts_as_no_run"),
    Fault("the disk fills during a run (checkpoints on)", "one line naming the "
          "file and 'No space left on device', exit 2; status `failed` (written in "
          "place if need be)", "whole lines of metrics.jsonl, the newest checkpoint; "
          "resumes identically once space is freed",
          "test_faults::test_a_full_disk_stops_with_one_line_and_resumes_identically"
          "[checkpoints]"),
    Fault("the disk fills during a run (checkpoints off)", "the same; the torn "
          "append is cut back at once", "whole lines of metrics.jsonl; the rerun "
          "starts afresh and matches", "test_faults::test_a_full_disk_stops_with_one_"
          "line_and_resumes_identically[no_checkpoints]"),
    Fault("a disk too small for the next checkpoint", "refused before training "
          "the epochs it would lose, one line with the estimate", "the run so far",
          "test_faults::test_a_disk_too_small_for_the_first_checkpoint_is_refused_"
          "before_training"),
    Fault("a half-written metrics line (crash mid-append)", "cut back on resume to "
          "the bytes the checkpoint saw (checked by SHA-256)", "the run; resumes "
          "identically", "test_workdir::test_resume_cuts_metrics_back_to_its_checkpoint"),
    Fault("a read-only workdir", "one line: 'not writable: Read-only file system'; "
          "analyze says to pass --out", "the run; report --out writes elsewhere",
          "test_faults::test_a_read_only_workdir_gives_one_line_and_out_writes_elsewhere"),
    Fault("an immutable workdir (chattr +i)", "one line: 'not writable: Operation "
          "not permitted'", "the run", "test_faults::test_an_immutable_workdir_gives_"
          "one_line"),
    Fault("a truncated metrics.jsonl, summary.json or damaged config.json",
          "analyze and report: one line naming the file", "the run",
          "test_workdir::test_readers_name_a_damaged_file_in_one_line"),
    Fault("a truncated examples.npz", "analyze: one line naming the file; the "
          "report keeps its run tables and says why the rest is missing", "the run",
          "test_workdir::test_readers_name_a_damaged_file_in_one_line"),
    Fault("a damaged analysis/depth.npz (a cache)", "a warning, computed again",
          "the run", "test_workdir::test_a_damaged_analysis_cache_is_computed_again"),
    Fault("metrics.jsonl missing epochs or holding rows twice", "the report "
          "warns, naming the counts", "the run",
          "test_workdir::test_report_warns_of_missing_and_repeated_epochs"),
    Fault("a damaged newest checkpoint", "a warning; the previous one is used and "
          "the damaged one moved to checkpoints_damaged/", "the run; resumes "
          "identically", "test_resume::test_damaged_newest_checkpoint_falls_back_to_"
          "the_previous"),
    Fault("metrics.jsonl changed by hand before a resume", "refused, one line: "
          "it does not match its checkpoint (SHA-256 of the bytes the checkpoint "
          "saw); status `failed`", "every file; --overwrite starts afresh",
          "test_resume::test_a_changed_metrics_file_is_refused_by_its_checksum"),
    Fault("temporary files and Orbax temporary folders left by a kill mid-write",
          "removed at the next start (only those; the user's files stay)", "the run",
          "test_resume::test_the_next_start_removes_what_interrupted_writes_left"),
    Fault("a checkpoint made with other lane keys or labels (another version)",
          "refused, one line", "every file; --overwrite starts afresh",
          "test_resume::test_a_checkpoint_of_other_lane_keys_is_refused"),
    Fault("a background checkpoint save that fails (accelerators)", "the run stops "
          "before the next epoch, one line naming the cause; status `failed`",
          "the checkpoints before it; the rerun resumes",
          "test_resume::test_a_failed_background_save_stops_the_run_at_the_next_epoch"),
    Fault("a run too large for memory", "refused before allocating, one line "
          "with the estimate and what to change", "nothing is written",
          "test_workdir::test_a_run_too_large_for_memory_is_refused_before_allocating"),
]


def markdown_row(fault: Fault) -> str:
  return (f"| {fault.what} | {fault.happens} | {fault.survives} | "
          f"`tests/{fault.test.replace('::', '.py::')}` |")
