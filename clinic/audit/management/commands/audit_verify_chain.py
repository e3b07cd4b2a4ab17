from django.core.management.base import BaseCommand, CommandError

from clinic.audit.chain import seal_pending, verify_chain


class Command(BaseCommand):
    help = "Verify the audit log's hash chain and name the first broken event."

    def add_arguments(self, parser):
        parser.add_argument("--seal-first", action="store_true", help="Seal pending events before verifying.")
        parser.add_argument("--from-position", type=int, default=0, help="Verify from this seal position.")

    def handle(self, *args, **options):
        if options["seal_first"]:
            while seal_pending():
                pass
        report = verify_chain(from_position=options["from_position"])
        if not report.ok:
            raise CommandError(
                f"Audit chain broken at event {report.first_broken_event_id} "
                f"(seal position {report.first_broken_position}): {report.problem}. "
                f"{report.sealed} events verified before it."
            )
        self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {report.sealed} sealed events verified."))
