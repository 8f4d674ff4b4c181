"""ORM models. Importing this package registers every table on ``db.metadata``."""
from .audit import AuditHead, AuditLog  # noqa: F401
from .bank import Item, ItemReview, ItemVersion, MediaFile  # noqa: F401
from .papers import Blueprint, ItemUsage, Paper, PaperForm, PaperItem  # noqa: F401
from .taxonomy import KnowledgeNode, Occupation, WeightEntry  # noqa: F401
from .users import AuthSession, LoginThrottle, Role, Station, User  # noqa: F401
from .exams import AttemptEvent, ExamAttempt, ExamCandidate, ExamResponse, ExamSession  # noqa: F401
from .marks import (AttemptMarking, CandidateResult, ItemMarkingRule, KeyCorrection, Mark, MarkerAssignment,  # noqa: F401
                    PassRule, ResultChange, Script, SessionMarking)
from .stats import AnalysisRun, ItemFlag, ItemStat, StatRow  # noqa: F401
