"""Imports every domain's models so the metadata (and Alembic) sees all tables."""

from crm.accounts.models import LoginAttempt, LoginSession, Office, User  # noqa: F401
from crm.audit.models import AuditEntry  # noqa: F401
from crm.contacts.import_models import ImportItem, ImportJob  # noqa: F401
from crm.contacts.models import (  # noqa: F401
    Activity,
    Affiliation,
    ContactList,
    ContactListMember,
    Organisation,
    Person,
    QualificationNeed,
    Tag,
)
from crm.dashboard.models import ProjectTerm, ReportDefinition  # noqa: F401
from crm.esf.models import EsfFollowupAttempt, EsfFollowupLink, EsfRecord  # noqa: F401
from crm.events.models import (  # noqa: F401
    CalendarToken,
    ChecklistItem,
    DigestSent,
    Event,
    EventContact,
    EventSeries,
    Lead,
    StaffSlot,
)
from crm.followups.models import FollowUp  # noqa: F401
from crm.intake.models import Inquiry, IntakeAttempt, IntakeConsentText, IntakeRule  # noqa: F401
from crm.jobs.leadership import SchedulerLock  # noqa: F401
from crm.jobs.models import JobRun  # noqa: F401
from crm.mail.models import OutgoingMail  # noqa: F401
from crm.newsletters.models import (  # noqa: F401
    Audience,
    Campaign,
    ConsentEvent,
    ConsentText,
    Delivery,
    NewsletterList,
    NewsletterTemplate,
    SignupAttempt,
    Subscription,
)
from crm.participants.models import (  # noqa: F401
    ConsentRelease,
    CounsellingSession,
    Participant,
    ParticipantContact,
    Referral,
    SupportItem,
    SupportItemType,
)
from crm.placements.models import FirmSupport, Placement  # noqa: F401
from crm.privacy.models import ErasureRecord, RetentionKeep, RetentionReview  # noqa: F401
from crm.privacy.notice import PrivacyText  # noqa: F401
from crm.surveys.models import (  # noqa: F401
    Survey,
    SurveyAttempt,
    SurveyRecipient,
    SurveyResponse,
    SurveyRound,
    SurveyVersion,
)
