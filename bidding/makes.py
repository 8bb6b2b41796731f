"""One make, one catalogue entry: Toyota, TOYOTA and 丰田 are the same cars (issue 13 item 14).

Sellers type the make as they know it, in English or Chinese, in any case; a dealer filtering the
catalogue wants one "Toyota / 丰田" entry. `canonical_make` maps every spelling in `MAKES` to one
key (the English name, lowered, spaces as hyphens); a make not in the table keeps its own key (its
text, trimmed and case-folded), so nothing is lost, only not merged. The table is data, not a rule
of the sale: extending it changes which spellings share a filter entry, never a lot.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Make:
    key: str
    en: str
    zh: str
    aliases: tuple[str, ...] = ()


_TABLE = (
    Make("toyota", "Toyota", "丰田", ("豐田", "一汽丰田", "广汽丰田")),
    Make("honda", "Honda", "本田", ("东风本田", "广汽本田")),
    Make("volkswagen", "Volkswagen", "大众", ("VW", "一汽大众", "上汽大众", "大眾")),
    Make("byd", "BYD", "比亚迪"),
    Make("tesla", "Tesla", "特斯拉"),
    Make("geely", "Geely", "吉利"),
    Make("haval", "Haval", "哈弗"),
    Make("great-wall", "Great Wall", "长城"),
    Make("nissan", "Nissan", "日产", ("东风日产",)),
    Make("bmw", "BMW", "宝马", ("华晨宝马", "寶馬")),
    Make("mercedes-benz", "Mercedes-Benz", "奔驰", ("Mercedes", "Benz", "北京奔驰", "梅赛德斯-奔驰")),
    Make("audi", "Audi", "奥迪", ("一汽奥迪",)),
    Make("changan", "Changan", "长安"),
    Make("li-auto", "Li Auto", "理想", ("Li", "LiXiang")),
    Make("nio", "NIO", "蔚来"),
    Make("xpeng", "XPeng", "小鹏"),
    Make("buick", "Buick", "别克"),
    Make("chevrolet", "Chevrolet", "雪佛兰"),
    Make("cadillac", "Cadillac", "凯迪拉克"),
    Make("ford", "Ford", "福特"),
    Make("mazda", "Mazda", "马自达"),
    Make("kia", "Kia", "起亚"),
    Make("hyundai", "Hyundai", "现代"),
    Make("lexus", "Lexus", "雷克萨斯"),
    Make("porsche", "Porsche", "保时捷"),
    Make("volvo", "Volvo", "沃尔沃"),
    Make("land-rover", "Land Rover", "路虎"),
    Make("jeep", "Jeep", "吉普"),
    Make("peugeot", "Peugeot", "标致"),
    Make("citroen", "Citroën", "雪铁龙", ("Citroen",)),
    Make("skoda", "Škoda", "斯柯达", ("Skoda",)),
    Make("mitsubishi", "Mitsubishi", "三菱"),
    Make("subaru", "Subaru", "斯巴鲁"),
    Make("suzuki", "Suzuki", "铃木"),
    Make("chery", "Chery", "奇瑞"),
    Make("wuling", "Wuling", "五菱"),
    Make("hongqi", "Hongqi", "红旗"),
    Make("roewe", "Roewe", "荣威"),
    Make("mg", "MG", "名爵"),
    Make("trumpchi", "Trumpchi", "传祺", ("GAC Trumpchi", "广汽传祺")),
    Make("lynk-co", "Lynk & Co", "领克"),
    Make("zeekr", "Zeekr", "极氪"),
    Make("aito", "AITO", "问界"),
)

MAKES: dict[str, Make] = {make.key: make for make in _TABLE}


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


_BY_SPELLING: dict[str, str] = {
    _fold(spelling): make.key
    for make in _TABLE
    for spelling in (make.key, make.en, make.zh, *make.aliases)
}


def canonical_make(text: str | None) -> str:
    """The catalogue key of a make as typed: the table's key for a known spelling, else the text
    trimmed, inner spaces collapsed and case-folded; "" for none."""
    if not text:
        return ""
    folded = _fold(text)
    return _BY_SPELLING.get(folded, folded)


def spellings(key: str) -> frozenset[str]:
    """Every folded spelling that `key` stands for (the key itself included): the catalogue filter
    matches rows keyed by any of them, so rows written before a spelling joined the table still match."""
    folded = canonical_make(key)
    return frozenset({folded} | {s for s, k in _BY_SPELLING.items() if k == folded})


def make_names(key: str, fallback: str | None = None) -> tuple[str, str]:
    """(English, Chinese) names of a make key; a make outside the table is named as it was typed."""
    make = MAKES.get(key)
    if make is not None:
        return make.en, make.zh
    name = fallback or key
    return name, name
