"""`make demo`: typed tasks on SQLite and the database worker, then a type checker at work."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_project.settings")


def main() -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from shop.tasks import charge, fetch_rate, report_attempt, send_welcome, total

    from django_tasks import TaskResult, TaskResultStatus
    from django_tasks.backends.database.models import DBTaskResult

    print("1. Migrate the SQLite database (demo.sqlite3)")
    call_command("migrate", verbosity=0)
    DBTaskResult.objects.all().delete()

    print("2. Enqueue typed tasks (nothing runs yet: no worker)")
    results: list[TaskResult[object]] = [
        send_welcome.enqueue(42, locale="fr"),
        send_welcome.enqueue(7),
        total.enqueue([9.99, 20.01], discount=0.1),
        fetch_rate.enqueue("USD"),
        report_attempt.enqueue("nightly report"),
        charge.enqueue(1001),
    ]
    for result in results:
        print(f"   {result.task.name:<15} {result.status:<8} id={result.id}")

    print("3. Run the database worker until the queue is empty: manage.py db_worker --batch")
    subprocess.run(
        [
            sys.executable,
            str(HERE / "manage.py"),
            "db_worker",
            "--batch",
            "--no-startup-delay",
            "--queue-name",
            "*",
        ],
        cwd=HERE,
        check=True,
    )

    print("4. Results, read back from the database")
    print(f"   {'task':<15} {'status':<11} {'attempts':<8} return value / error")
    for result in results:
        result.refresh()
        if result.status == TaskResultStatus.SUCCESSFUL:
            outcome = repr(result.return_value)
        else:
            # The traceback's last line names the exception and its message.
            outcome = result.errors[-1].traceback.strip().splitlines()[-1]
        print(f"   {result.task.name:<15} {result.status:<11} {result.attempts:<8} {outcome}")

    print("5. Type-check example/mistakes.py, which calls enqueue wrongly on purpose")
    show_type_errors()


def show_type_errors() -> None:
    pyright = shutil.which("pyright", path=str(Path(sys.executable).parent))
    if pyright is None:
        print("   pyright is not installed in this virtualenv; run `make demo`.")
        return
    checked = subprocess.run(
        [pyright, "--project", str(HERE / "pyrightconfig.json"), "--pythonpath", sys.executable],
        cwd=HERE,
        capture_output=True,
        text=True,
    )
    report = checked.stdout.splitlines()
    for line in report[1:-1]:  # Between the file name and the summary: each error.
        print("   " + line.strip().replace("\xa0", " ").replace(str(HERE) + "/", ""))
    print(f"   pyright: {report[-1] if report else checked.stderr.strip()}")


if __name__ == "__main__":
    main()
