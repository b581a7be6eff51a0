"""Survivors of `make mutate` judged by reading them (docs/money.md, "Survivors of …"): equivalent (no
state or answer can differ) or accepted (a difference only in non-money metadata). `mutation_score`
leaves the equivalent ones out of the score and lists the accepted ones as survivors with their reason.

A name is mutmut's (`mutmut show NAME`); names shift when their function changes, so the score flags
a listed name that mutmut no longer generates, or that a test now kills.
"""

EQUIVALENT: dict[str, str] = {
    "app.core.once.xǁOnceHolderǁdecide_once__mutmut_2": "projection 2 includes the field like 1",
    "app.core.once.xǁOnceHolderǁdecide_once__mutmut_50": "the retry back-off's jitter bound",
    "app.users.repository.xǁUserRepositoryǁcredits_of__mutmut_10": "projection 2 includes the field like 1",
    "app.users.repository.xǁUserRepositoryǁcredits_of__mutmut_16": "no user without a document (soft delete only)",
    "app.users.repository.xǁUserRepositoryǁcreate__mutmut_16": "{deletedAt: null} matches a missing deletedAt",
    "app.users.credits.xǁCreditLedgerǁ_settled_balance__mutmut_3": "whole document read, same two fields used",
    "app.live_streams.repository.xǁLiveStreamRepositoryǁadmit_rental__mutmut_14": "nothing reads the ordering field",
    "app.replays.repository.xǁReplayRentalRepositoryǁstore_answer__mutmut_35": "projection 2 includes like 1",
    "app.replays.repository.xǁReplayRentalRepositoryǁclaim_refund__mutmut_22": "status condition implies it",
    "app.superlikes.service.xǁSuperlikeServiceǁdrive__mutmut_49": "a 10-credit superlike's shares are never 1",
    "app.live_streams.pots.xǁContributionRepositoryǁstore_answer__mutmut_27": "differs only on a stale own read",
    "app.live_streams.pots.xǁPotǁ_reload__mutmut_5": "differs only on a stale own read (causal session)",
    "app.live_streams.pots.xǁPotǁstart__mutmut_22": "{response: null} matches a missing field",
    "app.users.credits.xǁCreditTransactionRepositoryǁpending_among__mutmut_12": "whole document: its caller reads direction and amount only",
    "app.users.credits.xǁCreditTransactionRepositoryǁfinal_among__mutmut_19": "projection 2 includes like 1",
    "app.users.repository.xǁUserRepositoryǁcreate__mutmut_9": "a missing opVersion reads as 0; the first $inc creates it",
    "app.users.repository.xǁUserRepositoryǁcreate__mutmut_11": "a missing opVersion reads as 0; the first $inc creates it",
    "app.users.repository.xǁUserRepositoryǁcreate__mutmut_18": "{deletedAt: null} matches a missing deletedAt",
    "app.users.repository.xǁUserRepositoryǁcredits_of__mutmut_3": "whole document: only credits is read",
    "app.live_streams.repository.xǁLiveStreamRepositoryǁoverdue_scheduled__mutmut_8": "sort(key) with no direction is ascending",
    "app.live_streams.repository.xǁLiveStreamRepositoryǁdue_follow_ups__mutmut_5": "sort(key) with no direction is ascending",
    "app.live_streams.entries.xǁEntryServiceǁprecheck__mutmut_4": "a balance is never below 0: same answer",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingServiceǁcreate__mutmut_57": "a missing opVersion reads as 0",
    **{
        f"app.live_streams.entries.x_is_admitting__mutmut_{n}": "active and deleted is unreachable"
        for n in range(5, 9)
    },
    **{
        f"app.live_streams.entries.xǁEntryRepositoryǁpaid__mutmut_{n}": "a shortcut: admit finds the entry by key"
        for n in (1, *range(5, 13))
    },
    **{
        f"app.live_streams.entries.xǁEntryRepositoryǁpaid__mutmut_{n}": "projection only"
        for n in (3, 4, *range(13, 17))
    },
}

ACCEPTED: dict[str, str] = {
    "app.core.once.xǁOnceHolderǁdecide_once__mutmut_27": "unserialised path (harness only): non-money fields",
    "app.users.credits.xǁCreditLedgerǁ_start__mutmut_28": "the pending row's updatedAt name",
    "app.replays.repository.xǁReplayRentalRepositoryǁclaim_refund__mutmut_40": "refundedAt: nothing reads it",
    "app.superlikes.service.xǁSuperlikeServiceǁsend__mutmut_26": "error text (contract tests own it)",
    "app.superlikes.service.xǁSuperlikeServiceǁsend__mutmut_56": "error text (contract tests own it)",
    "app.superlikes.repository.xǁSuperlikeRepositoryǁfinish__mutmut_14": "superlike updatedAt",
    "app.superlikes.repository.xǁSuperlikeRepositoryǁfinish__mutmut_15": "superlike updatedAt",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingServiceǁcreate__mutmut_63": "createdAt: listing order",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingServiceǁsettle__mutmut_3": "closedAt: nothing reads it",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingServiceǁsettle_stream__mutmut_5": "closedAt: nothing reads it",
    "app.live_streams.mini_crowd_fundings.xǁMiniCrowdFundingServiceǁcreate__mutmut_78": "closedAt: nothing reads it",
    "app.superlikes.service.xǁSuperlikeServiceǁ_start__mutmut_69": "pending row's updatedAt name: nothing reads it",
}
