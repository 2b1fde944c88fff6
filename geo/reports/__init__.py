"""Problem reports from riders ("closed", "facility broken", "not here", "hours wrong") and station freshness.

``ReportStore`` is the contract (``SQLiteReportStore`` keeps reports in one SQLite file beside the
registry; a PostgreSQL backend can implement the same methods); ``ReportLimits`` bounds what one
address or one station can send; ``resolve`` turns a clerk's decision into the registry's normal
audited writes; ``freshness`` says which stations have not been confirmed for too long.
"""

from geo.reports.model import CATEGORIES, OUTCOMES, REPORT_STATUSES, Report, Submission, check_submission
from geo.reports.store import ReportStore, SQLiteReportStore

__all__ = ["CATEGORIES", "OUTCOMES", "REPORT_STATUSES", "Report", "ReportStore", "SQLiteReportStore", "Submission",
           "check_submission"]
