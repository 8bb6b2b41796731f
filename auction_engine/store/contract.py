"""The bill of sale (电子合同) of a sold lot, rendered once as a PDF with its Chinese text embedded.

Why these choices. fpdf2 embeds a subset of an OpenType font with a ToUnicode map, so the text is
both drawn and extractable (a reader, or `pypdf`, gets the characters back, not glyph ids);
Noto Sans CJK SC is Debian's `fonts-noto-cjk`, a `.ttc` collection whose SC face is found by name.
The PDF is rendered once, stored, and its SHA-256 written to the settlement in the same
transaction: every later download is those exact bytes, so the digest in the ledger checks them.
The lot's log head hash is printed so anyone can check the contract against `auction-engine verify`.
"""

import datetime
import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fontTools.ttLib import TTCollection
from fpdf import FPDF
from sqlalchemy.ext.asyncio import AsyncConnection

from .db import insert
from .errors import StepRefused
from .handoff import record_event
from .ledger import outbox_key
from .models import Settlement
from .schema import applications, bidders, contracts, lots, outbox, settlements

FONT_ENV = "AUCTION_CONTRACT_FONT"
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
)
FACE = "Noto Sans CJK SC"


class FontMissing(RuntimeError):
    """No CJK font to embed: install Debian's fonts-noto-cjk or set AUCTION_CONTRACT_FONT."""


@functools.cache
def font() -> tuple[str, int]:
    """(path, face number) of the CJK font: AUCTION_CONTRACT_FONT, else the Noto CJK collection."""
    configured = os.environ.get(FONT_ENV)
    for path in ([configured] if configured else list(FONT_CANDIDATES)):
        if not Path(path).is_file():
            continue
        if not path.endswith(".ttc"):
            return path, 0
        faces = [f["name"].getDebugName(1) for f in TTCollection(path, lazy=True).fonts]
        for number, name in enumerate(faces):
            if name in (FACE, FACE.replace("Sans", "Serif")):
                return path, number
        return path, 0
    raise FontMissing(f"no CJK font found (tried {configured or ', '.join(FONT_CANDIDATES)}); install fonts-noto-cjk")


def yuan(minor: int | None, currency: str) -> str:
    """Minor units as the amount a person reads: 10450000 CNY -> `CNY 104,500.00`, integer maths only."""
    if minor is None:
        return "-"
    return f"{currency} {minor // 100:,}.{minor % 100:02d}"


def when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything the contract states, gathered from the ledger, the catalogue and the dealer."""

    settlement: Settlement
    title: str
    vehicle: dict[str, Any]
    buyer_company: str | None
    buyer_credit_code: str | None
    claims_window_days: float

    def lines(self) -> list[tuple[str, str]]:
        s, v = self.settlement, self.vehicle
        found = v.get("inspection")
        inspection: dict[str, Any] = found if isinstance(found, dict) else {}
        # The version the winning bid was placed on (the ledger's), else the one the lot was created with.
        version = s.report_version or inspection.get("version") or inspection.get("report_url") or "-"
        return [
            ("拍品 Lot", s.lot),
            ("卖方 Seller", str(v.get("seller") or "-")),
            ("买方 Buyer", f"{s.winner} (号牌 paddle {s.winner_paddle})"),
            ("买方公司 Company", f"{self.buyer_company or '-'}  统一社会信用代码 {self.buyer_credit_code or '-'}"),
            ("车辆 Vehicle", self.title),
            ("车架号 VIN", str(v.get("vin") or "-")),
            ("品牌/型号/年份 Make/Model/Year", f"{v.get('make') or '-'} / {v.get('model') or '-'} / {v.get('year') or '-'}"),
            ("里程 Mileage", f"{v.get('mileage_km', '-')} km"),
            ("检测报告版本 Inspection report", f"{inspection.get('grade') or '-'} · {version}"),
            ("成交价 Hammer price", yuan(s.hammer_price, s.currency)),
            ("佣金 Buyer's premium", yuan(s.premium, s.currency)),
            ("应付合计 Total due", yuan(s.total_due, s.currency)),
            ("付款截止 Payment due", when(s.payment_due_at)),
            ("异议期 Claims window", f"{self.claims_window_days:g} 天 days after payment (or delivery)"),
            ("成交时间 Decided at", when(s.decided_at)),
            ("日志 Log head", f"seq {s.final_seq} · {s.head_hash}"),
        ]


def render(facts: Facts) -> bytes:
    """The PDF; dated by the settlement's decision time so the same facts give the same bytes."""
    path, number = font()
    pdf = FPDF()
    pdf.set_creation_date(datetime.datetime.fromtimestamp(facts.settlement.decided_at / 1000, datetime.UTC))
    pdf.set_title(f"车辆买卖合同 {facts.settlement.lot}")
    pdf.add_font("cjk", fname=path, collection_font_number=number)
    pdf.add_page()
    pdf.set_font("cjk", size=16)
    pdf.cell(0, 12, "二手车买卖合同 Bill of sale", new_x="LMARGIN", new_y="NEXT", align="C")
    pdf.set_font("cjk", size=10)
    for label, value in facts.lines():
        pdf.set_x(pdf.l_margin)
        pdf.multi_cell(60, 7, label, new_x="RIGHT", new_y="TOP")
        pdf.multi_cell(0, 7, value, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.multi_cell(0, 6, "买方付款由第三方托管；买方确认收车或异议期满且无异议后，款项方支付给卖方。"
                         " Escrow holds the payment until the buyer confirms receipt or the claims window ends with no claim.")
    return bytes(pdf.output())


async def facts(conn: AsyncConnection, lot: str, claims_window_days: float, now: int) -> Facts:
    """What the contract of `lot` states. Refused (`contract_pending`) while the sale may still be
    voided: a live lot's hand-off held for its reopen window (`ledger.void`) has not been tried yet;
    once that time has passed no void can succeed, so a contract rendered then is final."""
    row = (await conn.execute(sa.select(settlements).where(settlements.c.lot == lot))).first()
    if row is None:
        raise StepRefused("unknown_lot", f"no settlement for lot {lot!r}", "lot", 404)
    settlement = Settlement.from_row(row)
    if settlement.result != "sold":
        raise StepRefused("not_sold", f"lot {lot!r} was not sold: there is no contract", "lot")
    handoff = (
        await conn.execute(
            sa.select(outbox.c.attempts, outbox.c.next_attempt_at, outbox.c.delivered_at).where(outbox.c.key == outbox_key(lot))
        )
    ).first()
    if handoff is not None and handoff.delivered_at is None and handoff.attempts == 0 and handoff.next_attempt_at > now:
        raise StepRefused("contract_pending", "the contract is issued once the lot's reopen window has closed", "lot")
    state = (await conn.execute(sa.select(lots.c.state, lots.c.title).where(lots.c.lot == lot))).first()
    vehicle = dict((state.state or {}).get("vehicle") or {}) if state else {}
    dealer = (
        await conn.execute(
            sa.select(applications.c.company, applications.c.credit_code)
            .select_from(bidders.join(applications, applications.c.bidder == bidders.c.bidder))
            .where(bidders.c.bidder == settlement.winner)
        )
    ).first()
    return Facts(settlement, state.title if state else lot, vehicle, dealer.company if dealer else None,
                 dealer.credit_code if dealer else None, claims_window_days)


async def stored(conn: AsyncConnection, lot: str) -> tuple[bytes, str] | None:
    row = (await conn.execute(sa.select(contracts.c.pdf, contracts.c.sha256).where(contracts.c.lot == lot))).first()
    return (bytes(row.pdf), row.sha256) if row else None


async def keep(conn: AsyncConnection, lot: str, pdf: bytes, now: int) -> tuple[bytes, str]:
    """Store the first rendering and put its digest in the ledger; a later one loses to it."""
    digest = hashlib.sha256(pdf).hexdigest()
    stmt = insert(conn, contracts).values(lot=lot, sha256=digest, pdf=pdf, created_at=now)
    if (await conn.execute(stmt.on_conflict_do_nothing(index_elements=[contracts.c.lot]).returning(contracts.c.lot))).first():
        await conn.execute(sa.update(settlements).where(settlements.c.lot == lot).values(contract_sha256=digest))
        await record_event(conn, lot, "contract", now, sha256=digest)
    kept = await stored(conn, lot)
    assert kept is not None
    return kept


async def missing(conn: AsyncConnection, limit: int = 20, decided_before: int | None = None) -> list[str]:
    """Sold lots whose contract is not rendered yet, the oldest sale first; with `decided_before`
    (epoch ms), only those whose result was decided before then."""
    stmt = (
        sa.select(settlements.c.lot)
        .where(settlements.c.result == "sold", settlements.c.contract_sha256.is_(None))
        .order_by(settlements.c.decided_at)
        .limit(limit)
    )
    if decided_before is not None:
        stmt = stmt.where(settlements.c.decided_at < decided_before)
    return list((await conn.execute(stmt)).scalars())
