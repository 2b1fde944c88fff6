#!/usr/bin/env python3
"""Generate the sample station registry: a seeded, reproducible GeoJSON of made-up stations.

The union's five-year review counts 2,340 outdoor-worker service stations (60 of them
honoured as nationally "most beautiful"), 103 worker bookshelves (national demonstration
points) and 15 childcare classes. This script spreads that many *illustrative* stations over
Chongqing's 38 districts: counts per district proportional to the 2020 census population
(largest-remainder rounding), locations drawn from Gaussians around each district's seat and
a few secondary town centres, rejected until strictly inside the district and at least
``MIN_SPACING_M`` from every other station of the same kind. Names, addresses, operators,
hours and amenities are plausible, not real.

The same seed and counts always give a byte-identical file: every random draw comes from
``numpy.random.default_rng`` seeded from ``--seed`` (one independent stream per stage), no
wall-clock time is read, and features are written in a fixed order (kind, district, serial).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyproj
import shapely

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from geo import schema  # noqa: E402
from geo.hours import parse_opening_hours  # noqa: E402

DEFAULT_SEED = 2024
DEFAULT_OUT = REPO_ROOT / "data" / "stations.geojson"
DEFAULT_DISTRICTS = REPO_ROOT / "data" / "districts.geojson"

# The union's five-year review.
DEFAULT_OUTDOOR = 2340
DEFAULT_BOOKSHELVES = 103
DEFAULT_CHILDCARE = 15
DEFAULT_MOST_BEAUTIFUL = 60

# Two stations of the same kind are never closer than this (validators flag ~30 m).
MIN_SPACING_M = 35.0
# Sampled points keep this far inside the district boundary (in metres).
BOUNDARY_MARGIN_M = 20.0

# Equal-area projection used for the districts' area_km2 (see data/SOURCES.md); metres.
ALBERS_CQ = "+proj=aea +lat_1=28 +lat_2=32 +lat_0=30 +lon_0=107.5 +ellps=WGS84 +units=m +no_defs"

# The nine districts of the central city (主城九区): denser, more compact clusters.
URBAN_CORE = frozenset({"500103", "500104", "500105", "500106", "500107", "500108", "500109", "500112", "500113"})

KIND_ORDER = ("outdoor_station", "bookshelf", "childcare")

# Dates: created_at/updated_at fall between these days (inclusive), China Standard Time.
FIRST_DAY = np.datetime64("2021-01-01", "D")
LAST_DAY = np.datetime64("2025-12-31", "D")

# ---------------------------------------------------------------------------------------
# Place names: per district, streets (街道, the urban core around the seat) and towns (镇).
# Real or real-sounding names; stations near the seat take a street, stations around a
# secondary centre take that centre's town. Unknown adcodes fall back to generated names.

PLACES: dict[str, tuple[str, str]] = {
    "500101": ("高笋塘 太白 牌楼 双河口 龙都 周家坝 沙河 钟鼓楼 百安坝 五桥 陈家坝",
               "小周 大周 新乡 孙家 高峰 龙沙 响水 武陵 瀼渡 甘宁 天城 熊家 分水 余家 长岭 白羊 龙驹 罗田"),
    "500102": ("敦仁 崇义 荔枝 江北 江东 李渡 龙桥 马鞍",
               "南沱 青羊 百胜 珍溪 清溪 焦石 马武 龙潭 蔺市 新妙 石沱 义和 白涛 增福 大木"),
    "500103": ("解放碑 七星岗 望龙门 朝天门 南纪门 菜园坝 石油路 大坪 化龙桥 上清寺 两路口 大溪沟", ""),
    "500104": ("新山村 跃进村 九宫庙 茄子溪 春晖路 八桥 建胜", "跳磴"),
    "500105": ("观音桥 华新街 五里店 石马河 大石坝 寸滩 江北城 郭家沱 铁山坪", "鱼嘴 复盛 五宝"),
    "500106": ("小龙坎 沙坪坝 渝碚路 磁器口 童家桥 石井坡 詹家溪 井口 歌乐山 山洞 新桥 天星桥 土湾 覃家岗 陈家桥 虎溪 西永 联芳",
               "青木关 凤凰 回龙坝 中梁 土主"),
    "500107": ("杨家坪 黄桷坪 谢家湾 石坪桥 石桥铺 中梁山 渝州路 二郎 九龙 华岩",
               "白市驿 西彭 铜罐驿 陶家 走马 巴福 金凤 含谷 石板"),
    "500108": ("南坪 铜元局 花园路 海棠溪 龙门浩 弹子石 南山 天文 涂山 鸡冠石", "长生桥 峡口 迎龙 广阳"),
    "500109": ("天生 朝阳 北温泉 东阳 龙凤桥 歇马 蔡家岗 童家溪", "静观 澄江 水土 复兴 三圣 天府 柳荫 金刀峡 施家梁"),
    "500110": ("古南 文龙 三江 新盛 通惠 万东 南桐",
               "东溪 赶水 打通 石角 永新 三角 隆盛 郭扶 篆塘 丁山 安稳 扶欢 石壕 青年 关坝"),
    "500111": ("龙岗 棠香 龙滩子 双路 通桥 智凤",
               "宝顶 中敖 三驱 宝兴 玉龙 石马 拾万 回龙 金山 万古 国梁 雍溪 珠溪 邮亭 铁山 高升 季家 古龙 高坪"),
    "500112": ("两路 双凤桥 双龙湖 回兴 龙溪 龙山 龙塔 大竹林 悦来 礼嘉 人和 天宫殿 鸳鸯 翠云 仙桃 宝圣湖 康美",
               "统景 大湾 兴隆 木耳 茨竹 古路 石船 洛碛 玉峰山 龙兴 大盛 王家"),
    "500113": ("鱼洞 龙洲湾 李家沱 花溪 南泉 一品 南彭 惠民 界石",
               "安澜 跳石 木洞 双河口 麻柳嘴 丰盛 二圣 东温泉 姜家 天星寺 接龙 石滩 石龙"),
    "500114": ("城东 城南 城西 正阳 舟白 冯家", "阿蓬江 石会 黑溪 黄溪 黎水 金溪 马喇 濯水 鹅池 小南海"),
    "500115": ("凤城 晏家 江南 渡舟 新市 菩提", "但渡 云集 长寿湖 双龙 龙河 石堰 云台 海棠 葛兰 洪湖 万顺"),
    "500116": ("几江 德感 鼎山 双福 圣泉 支坪",
               "白沙 油溪 吴滩 石门 朱杨 石蟆 永兴 塘河 西湖 杜市 珞璜 贾嗣 李市 慈云 蔡家 中山 嘉平 柏林 先锋 龙华 四面山"),
    "500117": ("合阳城 钓鱼城 南津街 盐井 草街 云门 大石",
               "太和 钱塘 沙鱼 官渡 涞滩 肖家 古楼 三庙 二郎 龙凤 隆兴 铜溪 双凤 狮滩 清平 土场 小沔 三汇 香龙 燕窝 渭沱 双槐"),
    "500118": ("中山路 胜利路 南大街 茶山竹海 大安 陈食 卫星湖",
               "板桥 朱沱 何埂 松溉 仙龙 吉安 五间 来苏 宝峰 双石 红炉 永荣 三教 青峰 金龙 临江"),
    "500119": ("东城 南城 西城",
               "三泉 南平 神童 鸣玉 大观 兴隆 太平场 白沙 水江 石墙 金山 头渡 大有 合溪 黎香湖 山王坪 木凉 古花 德隆 峰岩 民主 福寿 河图"),
    "500120": ("璧城 璧泉 青杠 来凤 丁家 大路", "七塘 八塘 三合 健龙 河边 大兴 正兴 广普 福禄"),
    "500151": ("巴川 东城 南城 蒲吕 旧县",
               "土桥 二坪 水口 安居 白羊 平滩 石鱼 福果 维新 大庙 围龙 华兴 永嘉 安溪 西河 太平 虎峰 少云 侣俸 小林 双山 庆隆"),
    "500152": ("梓潼 桂林 大佛",
               "上和 龙形 古溪 宝龙 玉溪 米心 群力 双江 花岩 柏梓 崇龛 塘坝 新胜 太安 小渡 卧佛 五桂 田家 别口 寿桥"),
    "500153": ("昌元 昌州 广顺 双河 安富 峰高", "盘龙 吴家 直升 荣隆 仁义 河包 古昌 铜鼓 清流 清升 远觉 龙集 万灵"),
    "500154": ("汉丰 文峰 云枫 镇东 丰乐 白鹤 赵家",
               "大德 镇安 厚坝 金峰 温泉 郭家 白桥 和谦 河堰 大进 谭家 敦好 高桥 九龙山 天和 中和 义和 临江 竹溪 铁桥 南雅 岳溪 长沙 南门 渠口"),
    "500155": ("梁山 双桂",
               "仁贤 礼让 云龙 屏锦 袁驿 新盛 福禄 聚奎 明达 合兴 安胜 回龙 铁门 龙门 碧山 和林 虎城 荫平 金带 竹山 七星 曲水"),
    "500156": ("凤山 芙蓉", "白马 江口 火炉 鸭江 羊角 仙女山 桐梓 土坎 长坝 平桥 和顺 双河 庙垭 石桥 黄莺 沧沟 文复 后坪 浩口 接龙 赵家"),
    "500229": ("葛城 复兴",
               "巴山 坪坝 庙坝 明通 修齐 高观 高燕 东安 咸宜 高楠 龙田 北屏 左岚 沿河 双河 蓼子 鸡鸣 周溪 明中 治平 岚天 厚坪 河鱼"),
    "500230": ("三合 名山",
               "虎威 社坛 三元 许明寺 董家 树人 十直 高家 兴义 双路 江池 龙河 武平 包鸾 湛普 南天湖 保合 兴龙 仁沙 龙孔 暨龙 双龙 仙女湖 青龙 太平坝 都督"),
    "500231": ("桂阳 桂溪",
               "澄溪 太平 鹤游 坪山 砚台 曹回 杠家 包家 白家 永安 高安 高峰 五洞 新民 沙坪 周嘉 普顺 永平 黄沙 长龙 三溪 裴兴"),
    "500233": ("忠州 白公",
               "乌杨 新生 任家 洋渡 东溪 复兴 石宝 汝溪 野鹤 官坝 石黄 马灌 金鸡 新立 双桂 拔山 花桥 永丰 三汇 白石 黄金"),
    "500235": ("双江 青龙 人和 盘龙",
               "龙角 故陵 红狮 路阳 农坝 渠马 黄石 巴阳 沙市 鱼泉 凤鸣 宝坪 南溪 双土 桑坪 江口 高阳 平安 云安 栖霞 龙洞 清水"),
    "500236": ("永安 鱼复 夔门",
               "白帝 草堂 汾河 康乐 大树 竹园 公平 朱衣 甲高 羊市 吐祥 兴隆 青龙 新民 永乐 安坪 五马 青莲"),
    "500237": ("高唐 龙门", "福田 龙溪 庙宇 大昌 官渡 铜鼓 骡坪 抱龙 官阳 巫峡 双龙 两坪 平河 当阳 竹贤 三溪 曲尺"),
    "500238": ("柏杨 宁河 赵家",
               "城厢 凤凰 宁厂 上磺 古路 文峰 徐家 白鹿 尖山 下堡 峰灵 塘坊 朝阳 田坝 通城 菱角 蒲莲 土城 红池坝"),
    "500240": ("南宾 万安 下路", "西沱 悦崃 临溪 黄水 马武 沙子 王场 沿溪 龙沙 鱼池 三河 大歇 桥头 万朝 冷水 黄鹤"),
    "500241": ("中和 乌杨 平凯 官庄",
               "清溪场 隘口 溶溪 龙池 石堤 峨溶 洪安 雅江 石耶 梅江 兰桥 膏田 溪口 妙泉 宋农 里仁 钟灵"),
    "500242": ("桃花源 钟多",
               "龙潭 麻旺 酉酬 大溪 兴隆 黑水 丁市 龚滩 李溪 泔溪 酉水河 苍岭 小河 板溪 涂市 铜鼓 五福 官清 花田 后坪 天馆 宜居 万木 毛坝 车田 木叶 南腰界 清泉 庙溪 楠木"),
    "500243": ("汉葭 绍庆 靛水",
               "保家 郁山 高谷 桑柘 鹿角 黄家 普子 龙射 连湖 万足 平安 长生 新田 鞍子 太原 龙溪 梅子垭 大同 岩东 鹿鸣 棣棠 三义 联合 石柳 走马 芦塘 善感 朗溪 润溪 大垭 石盘 诸佛 桐楼"),
}

# Fallback name pools (districts not in PLACES): two characters, e.g. 龙溪, 石坪.
_NAME_HEAD = "龙石青白金新双马黄高桃杨柏清永兴安长平太福"
_NAME_TAIL = "溪桥坪湾坝山河场岭口塘林沟田垭"

# Road names for addresses.
_ROAD_HEAD = ("人民 解放 民生 建设 新华 滨江 学府 长江 嘉陵 环城 临江 朝阳 和平 文化 健康 兴隆 东风 幸福 新城 中山 "
              "迎宾 锦绣 花园 桂花 银杏 育才 工业 北城 南城 滨河 沿江 商贸 体育 公园 青年 前进 红旗 新民 金山 龙腾").split()
_ROAD_TAIL = ("路", "路", "路", "大道", "街", "东路", "西路", "南路", "北路", "中路", "一路", "二路", "三路", "支路")
_TOWN_ROADS = ("正街", "新街", "老街", "滨河路", "场镇路", "农贸路", "兴业街", "人民路", "建设路", "新华街", "环城路", "文化街")

# ---------------------------------------------------------------------------------------
# Hosts: (name template, weight, operator template). {d}=district, {s}=short district name,
# {p}=place, {t}=place type (街道/镇), {bank}/{bank_full} filled for bank hosts.

OUTDOOR_HOSTS = (
    ("{d}{p}{t}工会户外劳动者服务站", 0.20, "重庆市{d}总工会"),
    ("{d}{p}工会户外劳动者服务站", 0.05, "重庆市{d}总工会"),
    ("{d}{p}环卫工人爱心驿站", 0.15, "重庆市{d}城市管理局"),
    ("{d}{p}快递小哥之家", 0.08, "重庆市{d}快递行业工会联合会"),
    ("中国石化{s}{p}加油站工会驿站", 0.10, "中国石化销售股份有限公司重庆石油分公司"),
    ("中国石油{s}{p}加油站爱心驿站", 0.04, "中国石油天然气股份有限公司重庆销售分公司"),
    ("{bank}{s}{p}支行爱心驿站", 0.18, "{bank_full}重庆{d}支行"),
    ("国网重庆{s}供电公司{p}供电所职工驿站", 0.06, "国网重庆市电力公司"),
    ("{d}{p}{t}新就业形态劳动者暖心驿站", 0.06, "{d}{p}{t}总工会"),
    ("{d}{p}公交站场司机之家", 0.04, "重庆市{d}交通运输局"),
    ("中国邮政{s}{p}营业所爱心驿站", 0.04, "中国邮政集团有限公司重庆市{d}分公司"),
)
BANKS = (
    ("工商银行", "中国工商银行"),
    ("建设银行", "中国建设银行"),
    ("农业银行", "中国农业银行"),
    ("中国银行", "中国银行"),
    ("邮储银行", "中国邮政储蓄银行"),
    ("重庆农商行", "重庆农村商业银行"),
    ("重庆银行", "重庆银行"),
)
BOOKSHELF_HOSTS = (
    ("{d}{p}职工书屋", 0.22, "重庆市{d}总工会"),
    ("{d}{p}{t}总工会职工书屋", 0.16, "{d}{p}{t}总工会"),
    ("国网重庆{s}供电公司职工书屋", 0.10, "国网重庆市电力公司{s}供电分公司"),
    ("{d}人民医院职工书屋", 0.08, "{d}人民医院"),
    ("{d}{p}工业园区职工书屋", 0.12, "{d}{p}工业园区工会"),
    ("中国邮政{s}分公司职工书屋", 0.07, "中国邮政集团有限公司重庆市{d}分公司"),
    ("{d}总工会职工书屋", 0.05, "重庆市{d}总工会"),
    ("{d}{p}中学教职工书屋", 0.10, "{d}{p}中学工会"),
    ("重庆高速{s}{p}收费站职工书屋", 0.10, "重庆高速公路集团有限公司"),
)
CHILDCARE_HOSTS = (
    ("{d}{p}爱心托管班", 0.35, "重庆市{d}总工会"),
    ("{d}{p}{t}爱心托管班", 0.20, "{d}{p}{t}总工会"),
    ("{d}总工会{p}暑期爱心托管班", 0.20, "重庆市{d}总工会"),
    ("{d}{p}社区职工子女爱心托管班", 0.15, "{d}{p}{t}总工会"),
    ("{d}{p}小学爱心托管班", 0.10, "重庆市{d}总工会"),
)
HOSTS = {"outdoor_station": OUTDOOR_HOSTS, "bookshelf": BOOKSHELF_HOSTS, "childcare": CHILDCARE_HOSTS}

# ---------------------------------------------------------------------------------------
# Opening hours (OpenStreetMap syntax), with weights. Every string is checked to parse.

HOURS: dict[str, tuple[tuple[str, float], ...]] = {
    "outdoor_station": (
        ("24/7", 0.45),
        ("Mo-Su 07:00-22:00", 0.14),
        ("Mo-Su 08:00-20:00", 0.10),
        ("Mo-Fr 08:00-20:00; Sa,Su 09:00-18:00", 0.09),
        ("Mo-Su 06:30-21:30", 0.07),
        ("Mo-Su 07:30-21:00", 0.06),
        ("Mo-Sa 08:00-21:00; Su 09:00-18:00", 0.05),
        ("Mo-Su 06:00-23:00", 0.04),
    ),
    "bookshelf": (
        ("Mo-Fr 09:00-17:30", 0.25),
        ("Mo-Fr 09:00-12:00,14:00-17:30", 0.20),
        ("Tu-Su 09:00-17:00", 0.15),
        ("Mo-Fr 08:30-21:00; Sa,Su 10:00-18:00", 0.15),
        ("Mo-Su 09:00-21:00", 0.15),
        ("Mo-Sa 09:00-18:00", 0.10),
    ),
    "childcare": (
        ("Mo-Fr 08:30-17:30", 0.40),
        ("Mo-Fr 08:00-18:00", 0.20),
        ("Jul-Aug Mo-Fr 08:30-17:30", 0.25),
        ("Jan,Feb,Jul,Aug Mo-Fr 08:30-17:00", 0.15),
    ),
}

# ---------------------------------------------------------------------------------------
# Amenity probabilities per kind (codes not listed: 0). Stations keep schema order.

AMENITY_P: dict[str, dict[str, float]] = {
    "outdoor_station": {
        "rest": 0.995, "drinking_water": 0.99, "phone_charging": 0.98, "food_heating": 0.97,
        "toilet": 0.70, "cooling": 0.80, "heating": 0.55, "reading": 0.40, "first_aid": 0.75,
        "battery_swap": 0.12, "discounted_meals": 0.18, "legal_aid": 0.12, "haircut": 0.08,
        "wifi": 0.50, "accessible": 0.35, "shelter": 0.60,
    },
    "bookshelf": {
        "reading": 1.0, "rest": 0.95, "wifi": 0.90, "drinking_water": 0.80, "phone_charging": 0.70,
        "toilet": 0.60, "cooling": 0.60, "heating": 0.40, "accessible": 0.50, "first_aid": 0.40,
        "legal_aid": 0.20,
    },
    "childcare": {
        "childcare": 1.0, "rest": 0.95, "reading": 0.95, "first_aid": 0.95, "drinking_water": 0.90,
        "toilet": 0.85, "cooling": 0.80, "food_heating": 0.60, "wifi": 0.40, "accessible": 0.30,
    },
}
# A "most beautiful" station offers at least these.
HONOURED_AMENITIES = ("rest", "toilet", "drinking_water", "cooling", "heating", "food_heating",
                      "phone_charging", "first_aid")


# ---------------------------------------------------------------------------------------
# Districts and sampling


@dataclass
class District:
    index: int
    adcode: str
    name: str
    short: str
    population: int
    area_km2: float
    seat_lonlat: tuple[float, float]
    geom: shapely.Geometry  # WGS-84, prepared
    geom_m: shapely.Geometry  # Albers metres, shrunk by BOUNDARY_MARGIN_M, prepared
    streets: tuple[str, ...] = ()
    towns: tuple[str, ...] = ()
    mixture: Mixture | None = None


@dataclass
class Mixture:
    """Where one district's stations are: Gaussians in Albers metres, with a place name each."""

    cx: np.ndarray
    cy: np.ndarray
    sigma: np.ndarray
    weight: np.ndarray
    # Component 0 is the seat (streets), 1..k the secondary towns, last the broad scatter.
    town_names: list[str] = field(default_factory=list)


class Projection:
    def __init__(self) -> None:
        self.fwd = pyproj.Transformer.from_crs("EPSG:4326", ALBERS_CQ, always_xy=True)
        self.inv = pyproj.Transformer.from_crs(ALBERS_CQ, "EPSG:4326", always_xy=True)

    def to_m(self, lon, lat):
        return self.fwd.transform(lon, lat)

    def to_lonlat(self, x, y):
        return self.inv.transform(x, y)

    def geom_to_m(self, geom: shapely.Geometry) -> shapely.Geometry:
        return shapely.transform(geom, lambda c: np.column_stack(self.fwd.transform(c[:, 0], c[:, 1])))


def short_name(name: str) -> str:
    for suffix in ("土家族苗族自治县", "苗族土家族自治县", "土家族自治县", "自治县", "区", "县"):
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


def generated_places(adcode: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Plausible two-character place names for a district without a list, stable per adcode."""
    rng = np.random.default_rng([int(adcode), 7])
    names: list[str] = []
    while len(names) < 14:
        name = _NAME_HEAD[rng.integers(len(_NAME_HEAD))] + _NAME_TAIL[rng.integers(len(_NAME_TAIL))]
        if name not in names:
            names.append(name)
    return tuple(names[:4]), tuple(names[4:])


def load_districts(path: Path, proj: Projection) -> list[District]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    feats = sorted(data["features"], key=lambda f: str(f["properties"]["adcode"]))
    out: list[District] = []
    for i, feat in enumerate(feats):
        p = feat["properties"]
        geom = shapely.make_valid(shapely.geometry.shape(feat["geometry"]))
        geom_m = proj.geom_to_m(geom)
        inner = shapely.buffer(geom_m, -BOUNDARY_MARGIN_M)
        if inner.is_empty or inner.area < 0.5 * geom_m.area:
            inner = geom_m
        shapely.prepare(geom)
        shapely.prepare(inner)
        adcode = str(p["adcode"])
        if adcode in PLACES:
            streets, towns = (tuple(s.split()) for s in PLACES[adcode])
        else:
            streets, towns = generated_places(adcode)
        area = float(p.get("area_km2") or geom_m.area / 1e6)
        if "seat_lon" in p and "seat_lat" in p:
            seat = (float(p["seat_lon"]), float(p["seat_lat"]))
        else:
            c = shapely.point_on_surface(geom)
            seat = (c.x, c.y)
        out.append(District(i, adcode, p["name_zh"], short_name(p["name_zh"]), int(p["population_2020"]), area,
                            seat, geom, inner, streets, towns))
    return out


def uniform_inside(d: District, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n points uniformly inside the district (metres), by rejection from the bounding box."""
    x0, y0, x1, y1 = d.geom_m.bounds
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    have = 0
    while have < n:
        m = max(64, 4 * (n - have))
        x = rng.uniform(x0, x1, m)
        y = rng.uniform(y0, y1, m)
        ok = shapely.contains_xy(d.geom_m, x, y)
        xs.append(x[ok])
        ys.append(y[ok])
        have += int(ok.sum())
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def build_mixture(d: District, proj: Projection, rng: np.random.Generator) -> Mixture:
    """Seat cluster + a few secondary town centres + a broad scatter, sized by district area."""
    sx, sy = proj.to_m(*d.seat_lonlat)
    if not shapely.contains_xy(d.geom_m, sx, sy):  # seat outside the shrunk polygon: use a point inside
        pt = shapely.point_on_surface(d.geom_m)
        sx, sy = pt.x, pt.y
    root = math.sqrt(max(d.area_km2, 1.0)) * 1000.0  # metres
    urban = d.adcode in URBAN_CORE
    sigma_seat = float(np.clip((0.10 if urban else 0.12) * root, 900.0, 4500.0))
    k = int(np.clip(round(root / 10_000.0), 2, 6))
    tx, ty = uniform_inside(d, rng, k)
    pool = list(d.towns) if d.towns else list(d.streets)
    order = rng.permutation(len(pool))
    town_names = [pool[order[i % len(pool)]] for i in range(k)]
    share_seat, share_towns, share_broad = (0.60, 0.32, 0.08) if urban else (0.55, 0.35, 0.10)
    town_w = rng.dirichlet(np.full(k, 2.0)) * share_towns
    cx = np.concatenate([[sx], tx, [sx]])
    cy = np.concatenate([[sy], ty, [sy]])
    sigma = np.concatenate([[sigma_seat], rng.uniform(0.3, 0.5, k) * sigma_seat, [0.35 * root]])
    weight = np.concatenate([[share_seat], town_w, [share_broad]])
    return Mixture(cx, cy, sigma, weight / weight.sum(), town_names)


def sample_district(d: District, proj: Projection, rng: np.random.Generator, n: int):
    """n points from the district's mixture, strictly inside (also after rounding to 6 decimals).

    Returns x, y (metres), lon, lat (rounded) and the component index of each point.
    """
    mix = d.mixture
    assert mix is not None
    parts: list[tuple[np.ndarray, ...]] = []
    have = 0
    tries = 0
    while have < n:
        tries += 1
        m = max(32, 3 * (n - have))
        comp = rng.choice(len(mix.weight), size=m, p=mix.weight)
        x = mix.cx[comp] + rng.normal(0.0, 1.0, m) * mix.sigma[comp]
        y = mix.cy[comp] + rng.normal(0.0, 1.0, m) * mix.sigma[comp]
        if tries > 50:  # pathological geometry: fall back to uniform points
            x, y = uniform_inside(d, rng, m)
            comp = np.full(m, len(mix.weight) - 1)
        ok = shapely.contains_xy(d.geom_m, x, y)
        x, y, comp = x[ok], y[ok], comp[ok]
        lon, lat = proj.to_lonlat(x, y)
        lon = np.round(lon, 6)
        lat = np.round(lat, 6)
        ok = shapely.contains_xy(d.geom, lon, lat)
        part = (x[ok], y[ok], lon[ok], lat[ok], comp[ok])
        parts.append(part)
        have += int(ok.sum())
    return tuple(np.concatenate([p[i] for p in parts])[:n] for i in range(5))


def place_points(districts: list[District], counts: np.ndarray, proj: Projection, rng: np.random.Generator,
                 min_spacing: float = MIN_SPACING_M):
    """Points for one kind: counts[i] in district i, no two closer than min_spacing metres."""
    owner = np.repeat(np.arange(len(districts)), counts)
    total = int(counts.sum())
    x = np.empty(total)
    y = np.empty(total)
    lon = np.empty(total)
    lat = np.empty(total)
    comp = np.empty(total, dtype=np.int64)

    def fill(idx: np.ndarray) -> None:
        for di in np.unique(owner[idx]):
            sel = idx[owner[idx] == di]
            res = sample_district(districts[di], proj, rng, sel.size)
            x[sel], y[sel], lon[sel], lat[sel], comp[sel] = res

    # Points that passed the check are "settled" and never move again; each round checks the
    # rest against the settled ones (one small tree per round) and against each other, keeps
    # the clear ones and redraws the others. Whichever of two close points settles later was
    # checked against the other, so no settled pair is closer than min_spacing.
    fill(np.arange(total))
    settled: list[shapely.STRtree] = []
    suspects = np.arange(total)
    rounds = 0
    while suspects.size:
        rounds += 1
        if rounds > 1000:  # only with absurd densities
            raise RuntimeError(f"could not space {total} stations {min_spacing:g} m apart; too many for the area?")
        pts = shapely.points(x[suspects], y[suspects])
        bad = np.zeros(suspects.size, dtype=bool)
        for tree in settled:
            q, _t = tree.query(pts, predicate="dwithin", distance=min_spacing)
            bad[q] = True
        q, t = shapely.STRtree(pts).query(pts, predicate="dwithin", distance=min_spacing)
        bad[q[t < q]] = True
        if (~bad).any():
            settled.append(shapely.STRtree(pts[~bad]))
        suspects = suspects[bad]
        if suspects.size:
            fill(suspects)
    return owner, x, y, lon, lat, comp


# ---------------------------------------------------------------------------------------
# Allocation


def largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Integer shares of total proportional to weights (Hamilton method, ties by weight then index)."""
    weights = np.asarray(weights, dtype=float)
    out = np.zeros(weights.size, dtype=np.int64)
    if total <= 0 or weights.size == 0 or weights.sum() <= 0:
        return out
    quota = total * weights / weights.sum()
    out = np.floor(quota).astype(np.int64)
    left = total - int(out.sum())
    if left:
        order = np.lexsort((np.arange(weights.size), -weights, -(quota - out)))
        out[order[:left]] += 1
    return out


def allocate(total: int, weights, minimum: int = 0, cap=None) -> np.ndarray:
    """Largest-remainder allocation with a per-item floor and optional per-item ceiling."""
    weights = np.asarray(weights, dtype=float)
    n = weights.size
    cap_arr = np.full(n, np.iinfo(np.int64).max) if cap is None else np.asarray(cap, dtype=np.int64)
    if cap is not None:
        total = min(total, int(cap_arr.sum()))
    floor = np.minimum(np.full(n, minimum if total >= minimum * n else 0), cap_arr)
    fixed = np.zeros(n, dtype=bool)
    alloc = np.zeros(n, dtype=np.int64)
    for _ in range(n + 1):
        alloc[fixed] = np.clip(alloc[fixed], floor[fixed], cap_arr[fixed])
        free = ~fixed
        alloc[free] = largest_remainder(total - int(alloc[fixed].sum()), weights[free])
        low = free & (alloc < floor)
        high = free & (alloc > cap_arr)
        if not (low.any() or high.any()):
            break
        alloc[low] = floor[low]
        alloc[high] = cap_arr[high]
        fixed |= low | high
    return alloc


def allocation(districts: list[District], outdoor: int, bookshelves: int, childcare: int) -> dict[str, np.ndarray]:
    pop = np.array([d.population for d in districts], dtype=float)
    # Childcare classes go to the ceil(2n/3) most populous districts, weighted by population.
    eligible = min(len(districts), max(1, math.ceil(2 * childcare / 3)))
    top = np.lexsort((np.arange(pop.size), -pop))[:eligible]
    cc_weights = np.zeros_like(pop)
    cc_weights[top] = pop[top]
    return {
        "outdoor_station": allocate(outdoor, pop, minimum=1),
        "bookshelf": allocate(bookshelves, pop),
        "childcare": allocate(childcare, cc_weights),
    }


# ---------------------------------------------------------------------------------------
# Attributes


def kind_rng(seed: int, kind: str, stage: int) -> np.random.Generator:
    """An independent stream per (kind, stage), so changing one count leaves other kinds alone."""
    return np.random.default_rng([seed, KIND_ORDER.index(kind), stage])


def pick(rng: np.random.Generator, options: tuple, n: int) -> np.ndarray:
    p = np.array([o[1] for o in options], dtype=float)
    return rng.choice(len(options), size=n, p=p / p.sum())


def iso_times(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """created_at and updated_at (ISO 8601, +08:00), both in working hours on days in [FIRST_DAY, LAST_DAY].

    A quarter of the stations were never edited (updated_at == created_at); the others were
    edited on a later day (or later the same day).
    """
    days = int((LAST_DAY - FIRST_DAY).astype(int)) + 1
    created_day = rng.integers(0, days, n)
    created_tod = rng.integers(8 * 3600 + 1800, 18 * 3600, n)  # 08:30-18:00
    edited = rng.random(n) < 0.75
    updated_day = created_day + np.floor(rng.random(n) * (days - created_day)).astype(np.int64)
    updated_tod = rng.integers(8 * 3600, 21 * 3600, n)  # 08:00-21:00
    start = FIRST_DAY.astype("datetime64[s]")
    created = start + (created_day * 86400 + created_tod).astype("timedelta64[s]")
    updated = start + (updated_day * 86400 + updated_tod).astype("timedelta64[s]")
    updated = np.where(edited & (updated > created), updated, created)
    to_s = np.datetime_as_string
    return np.char.add(to_s(created, unit="s"), "+08:00"), np.char.add(to_s(updated, unit="s"), "+08:00")


def road_addresses(rng: np.random.Generator, place: np.ndarray, is_town: np.ndarray) -> tuple[list[str], list[str]]:
    """Per station (road, road + house number), e.g. ("民生路", "民生路128号附3号")."""
    n = place.size
    head = rng.integers(0, len(_ROAD_HEAD), n)
    tail = rng.integers(0, len(_ROAD_TAIL), n)
    town_road = rng.integers(0, len(_TOWN_ROADS), n)
    own = rng.random(n) < 0.15  # a street named after its place: 杨家坪正街, 龙桥路
    own_kind = rng.random(n) < 0.5
    number = np.where(is_town, rng.integers(1, 200, n), rng.integers(1, 400, n))
    annex = np.where(rng.random(n) < 0.1, rng.integers(1, 20, n), 0)  # 附3号
    roads: list[str] = []
    lines: list[str] = []
    for i, p in enumerate(place.tolist()):
        if is_town[i]:
            road = _TOWN_ROADS[town_road[i]]
        elif own[i]:
            road = p if p.endswith(("路", "街")) else p + ("正街" if own_kind[i] else "路")
        else:
            road = _ROAD_HEAD[head[i]] + _ROAD_TAIL[tail[i]]
        roads.append(road)
        lines.append(f"{road}{number[i]}号" + (f"附{annex[i]}号" if annex[i] else ""))
    return roads, lines


def make_stations(districts: list[District], kind: str, counts: np.ndarray, proj: Projection, seed: int,
                  most_beautiful: int = 0) -> list[dict]:
    """Stations of one kind as dicts of (lon, lat, properties), ordered by district then serial."""
    rng_place = kind_rng(seed, kind, 1)
    rng_attr = kind_rng(seed, kind, 2)
    owner, _x, _y, lon, lat, comp = place_points(districts, counts, proj, rng_place)
    n = owner.size
    if n == 0:
        return []

    # Place name for each point: the seat cluster takes a street, town centre i its town,
    # the broad scatter any town (or street).
    place = np.empty(n, dtype=object)
    is_town = np.zeros(n, dtype=bool)
    for di in np.unique(owner):
        d = districts[di]
        mix = d.mixture
        sel = np.flatnonzero(owner == di)
        c = comp[sel]
        k = len(mix.town_names)
        streets = np.array(d.streets, dtype=object)
        towns = np.array(mix.town_names, dtype=object)
        broad = np.array(d.towns or d.streets, dtype=object)
        names = streets[rng_attr.integers(0, streets.size, sel.size)]
        at_town = (c >= 1) & (c <= k)
        names[at_town] = towns[c[at_town] - 1]
        at_broad = c > k
        names[at_broad] = broad[rng_attr.integers(0, broad.size, int(at_broad.sum()))]
        place[sel] = names
        is_town[sel] = (c >= 1) & bool(d.towns)

    hosts = HOSTS[kind]
    host = pick(rng_attr, hosts, n)
    bank = rng_attr.integers(0, len(BANKS), n)
    hours_opts = HOURS[kind]
    hours = pick(rng_attr, hours_opts, n)
    phone = rng_attr.integers(40_000_000, 90_000_000, n)
    created, updated = iso_times(rng_attr, n)
    codes = list(schema.AMENITIES)
    probs = np.array([AMENITY_P[kind].get(c, 0.0) for c in codes])
    has = rng_attr.random((n, len(codes))) < probs

    honoured = np.zeros(n, dtype=bool)
    if kind == "outdoor_station" and most_beautiful > 0:
        pop = np.array([d.population for d in districts], dtype=float)
        per = allocate(most_beautiful, pop, cap=counts)
        for di in np.flatnonzero(per):
            sel = np.flatnonzero(owner == di)
            honoured[rng_attr.choice(sel, size=int(per[di]), replace=False)] = True
        for code in HONOURED_AMENITIES:
            has[honoured, codes.index(code)] = True
    honours = ["national_most_beautiful"] if kind == "outdoor_station" else ["national_demonstration"]

    # Serial numbers follow created_at within each district (ties by generation order).
    order = np.lexsort((np.arange(n), created, owner))
    sorted_owner = owner[order]
    group_start = np.flatnonzero(np.r_[True, sorted_owner[1:] != sorted_owner[:-1]])
    group_size = np.diff(np.r_[group_start, n])
    serial = np.empty(n, dtype=np.int64)
    serial[order] = np.arange(n) - np.repeat(group_start, group_size) + 1

    roads, street_lines = road_addresses(rng_attr, place, is_town)
    # Amenity lists: one per distinct combination, in schema order.
    bits = has.astype(np.int64) @ (np.int64(1) << np.arange(len(codes), dtype=np.int64))
    combos, combo_of = np.unique(bits, return_inverse=True)
    combo_lists = [[c for i, c in enumerate(codes) if (b >> i) & 1] for b in combos.tolist()]
    combo_of = combo_of.reshape(-1).tolist()
    owner_l, host_l, bank_l, hours_l = owner.tolist(), host.tolist(), bank.tolist(), hours.tolist()
    town_l, honoured_l, serial_l = is_town.tolist(), honoured.tolist(), serial.tolist()
    phone_l, created_l, updated_l = phone.tolist(), created.tolist(), updated.tolist()
    lon_l, lat_l, place_l = lon.tolist(), lat.tolist(), place.tolist()
    always = kind != "outdoor_station"

    rows = []
    for idx in order.tolist():
        d = districts[owner_l[idx]]
        p = place_l[idx]
        t = "镇" if town_l[idx] else "街道"
        tmpl, _w, op_tmpl = hosts[host_l[idx]]
        bank_short, bank_full = BANKS[bank_l[idx]]
        fmt = {"d": d.name, "s": d.short, "p": p, "t": t, "bank": bank_short, "bank_full": bank_full}
        props = {
            "id": schema.station_id(d.adcode, kind, serial_l[idx]),
            "kind": kind,
            "name": tmpl.format(**fmt),
            "address": f"重庆市{d.name}{p}{t}{street_lines[idx]}",
            "district_adcode": d.adcode,
            "district": d.name,
            "operator": op_tmpl.format(**fmt),
            "phone": f"023-{phone_l[idx]}",
            "opening_hours": hours_opts[hours_l[idx]][0],
            "amenities": list(combo_lists[combo_of[idx]]),
            "honours": list(honours) if (always or honoured_l[idx]) else [],
            "status": "active",
            "created_at": created_l[idx],
            "updated_at": updated_l[idx],
            "source": "sample",
        }
        rows.append({"lon": lon_l[idx], "lat": lat_l[idx], "road": roads[idx], "props": props})
    return rows


def dedupe_names(rows: list[dict]) -> None:
    """Make names unique: a repeat takes its road (…爱心驿站（民生路站）), then a number (…（2号站）)."""
    used: set[str] = set()
    next_number: dict[str, int] = {}
    for row in rows:
        base = row["props"]["name"]
        name = base
        if name in used:
            name = f"{base}（{row['road']}站）"
        while name in used:
            k = next_number.get(base, 2)
            next_number[base] = k + 1
            name = f"{base}（{k}号站）"
        used.add(name)
        row["props"]["name"] = name


def check(rows: list[dict], districts: list[District]) -> None:
    """Self-check before writing: schema, vocabulary, hours, unique ids, inside the named district."""
    for text in sorted({r["props"]["opening_hours"] for r in rows}):
        parse_opening_hours(text)  # raises ValueError if invalid
    ids = [r["props"]["id"] for r in rows]
    assert len(set(ids)) == len(ids), "duplicate ids"
    assert all(map(schema.ID_PATTERN.match, ids)), "malformed id"
    amenities = set(schema.AMENITIES)
    honours = set(schema.HONOURS)
    # Lengths: only the free-text fields vary; the rest are fixed-format.
    limits = [(k, schema.PROPERTIES[k][2]) for k in ("name", "address", "operator")]
    for r in rows:
        p = r["props"]
        assert tuple(p) == tuple(k for k in schema.PROPERTY_NAMES if k != "listing"), p  # 上图 status: set by districts later
        assert amenities.issuperset(p["amenities"]) and honours.issuperset(p["honours"]), p
        assert all(len(p[k]) <= n for k, n in limits), p
    by_code = {d.adcode: d for d in districts}
    code = np.array([r["props"]["district_adcode"] for r in rows])
    xy = np.array([(r["lon"], r["lat"]) for r in rows], dtype=float).reshape(-1, 2)
    for adcode in np.unique(code).tolist():
        sel = code == adcode
        assert shapely.contains_xy(by_code[adcode].geom, xy[sel, 0], xy[sel, 1]).all(), adcode


def geojson_text(rows: list[dict]) -> str:
    """The FeatureCollection, one feature per line, compact, UTF-8 (not ASCII-escaped)."""
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
            "properties": r["props"],
        }
        for r in rows
    ]
    body = json.dumps(features, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    # One encoder call for speed, then a line break between features. Inside JSON strings a
    # quote is always escaped, so this separator only ever occurs between two features.
    body = body[1:-1].replace('},{"type":"Feature",', '},\n{"type":"Feature",')
    return '{"type":"FeatureCollection","features":[\n' + body + ("\n" if body else "") + "]}\n"


def write_geojson(rows: list[dict], out: Path) -> None:
    text = geojson_text(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=out.name + ".", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def generate(districts_path: Path, seed: int, outdoor: int, bookshelves: int, childcare: int,
             most_beautiful: int) -> list[dict]:
    proj = Projection()
    districts = load_districts(districts_path, proj)
    mix_rng = np.random.default_rng([seed, 99])
    for d in districts:
        d.mixture = build_mixture(d, proj, mix_rng)
    alloc = allocation(districts, outdoor, bookshelves, childcare)
    rows: list[dict] = []
    for kind in KIND_ORDER:
        rows += make_stations(districts, kind, alloc[kind], proj, seed,
                              most_beautiful if kind == "outdoor_station" else 0)
    dedupe_names(rows)
    check(rows, districts)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Generate a reproducible sample registry of Chongqing trade-union stations "
                    "(outdoor-worker service stations, worker bookshelves, childcare classes) as GeoJSON. "
                    "Locations and attributes are illustrative, not real stations.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  python scripts/make_sample_registry.py                      # data/stations.geojson, seed 2024\n"
               "  python scripts/make_sample_registry.py --seed 2024 --out /tmp/stations.geojson\n"
               "  python scripts/make_sample_registry.py --outdoor 200000 --out /tmp/big.geojson   # benchmark\n\n"
               "The same seed and counts always produce a byte-identical file.",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output GeoJSON (default: data/stations.geojson)")
    parser.add_argument("--districts", type=Path, default=DEFAULT_DISTRICTS,
                        help="district boundaries with population_2020 (default: data/districts.geojson)")
    parser.add_argument("--outdoor", type=int, default=DEFAULT_OUTDOOR, metavar="N",
                        help="outdoor-worker service stations (default: %(default)s)")
    parser.add_argument("--bookshelves", type=int, default=DEFAULT_BOOKSHELVES, metavar="N",
                        help="worker bookshelves (default: %(default)s)")
    parser.add_argument("--childcare", type=int, default=DEFAULT_CHILDCARE, metavar="N",
                        help="childcare classes (default: %(default)s)")
    parser.add_argument("--most-beautiful", type=int, default=DEFAULT_MOST_BEAUTIFUL, metavar="N",
                        help="outdoor stations honoured national_most_beautiful (default: %(default)s, "
                             "at most --outdoor)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")
    args = parser.parse_args(argv)
    for name in ("outdoor", "bookshelves", "childcare", "most_beautiful"):
        if getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must be >= 0")

    started = time.perf_counter()
    # Hundreds of thousands of small dicts and lists, none cyclic: the cyclic GC would only
    # rescan them over and over (a third of the run time at 200,000 stations).
    gc.disable()
    rows = generate(args.districts, args.seed, args.outdoor, args.bookshelves, args.childcare, args.most_beautiful)
    write_geojson(rows, args.out)
    if not args.quiet:
        counts = {k: sum(1 for r in rows if r["props"]["kind"] == k) for k in KIND_ORDER}
        honoured = sum(1 for r in rows if "national_most_beautiful" in r["props"]["honours"])
        print(f"wrote {len(rows)} stations to {args.out} (seed {args.seed}): "
              + ", ".join(f"{k} {v}" for k, v in counts.items())
              + f"; {honoured} national_most_beautiful; {time.perf_counter() - started:.1f} s",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
