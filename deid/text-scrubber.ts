import type { ScrubTextContext, ScrubTextResult, TextFinding } from './types';
import {
  EN_CENSUS_SURNAMES,
  EN_GIVEN_NAME_WORDS,
  EN_GIVEN_NAMES,
  EN_SURNAMES,
  followedByEponymWord,
  MEDICAL_TERMS,
  ZH_COMPOUND_SURNAMES,
  EN_NOT_NAME_WORDS,
  US_CITIES,
  US_PLACES_BY_AMBIGUOUS_STATE,
  ZH_COMMON_WORDS,
  ZH_MEDICAL_TERMS,
  ZH_SURNAMES,
} from './dictionaries';
import {
  foldWidth,
  isLuhnValid,
  isValidResidentId,
  isValidUsSsn,
  isValidYmd,
  readsAsVin,
  US_MBI_SHAPE,
} from './identifiers';
import { addDays, isOlderThan, pad2, pad4 } from './dates';
import { SAFE_HARBOR_TOP_AGE, topClassYear } from './ages';
import { surrogateFor, TAGS, type SurrogateType } from './surrogates';
import { daysInMonth } from './identifiers';
import { findLiterals, monthNumber } from './residual-phi';
import { identifierMatches, matchKey, typePatternsOf, type TypePattern } from './identifier-match';
import type { SourceIdentifier } from './types';

/**
 * Free-text scrubber for English and Chinese. Detectors run on a width-folded copy (full-width digits and letters
 * become ASCII, one code unit for one, so offsets carry over); each proposes spans; overlaps resolve by priority and
 * length; spans become consistent surrogates (or typed tags). Every pattern has bounded repetition and no nested
 * quantifiers, so a pathological input costs linear time.
 */

type PhiType = SurrogateType | 'date' | 'device-serial';

interface Span {
  start: number;
  end: number;
  type: PhiType;
  rule: string;
  priority: number;
  /** For dates: parsed parts and how to print them back. */
  date?: DateParts;
}

interface DateParts {
  y?: number;
  m: number;
  d?: number;
  /** A year alone (`born in 1931`): not shifted, only folded into the top age class. */
  yearOnly?: boolean;
  format: (y: number, m: number, d: number) => string;
}

interface Detector {
  rule: string;
  type: PhiType;
  re: RegExp;
  priority: number;
  /** Only run when the folded text contains this (cheap prefilter). */
  needs?: RegExp;
  /** The PHI is the last capture group (context words before it stay). */
  lastGroup?: boolean;
  accept?: (m: RegExpExecArray, text: string) => boolean;
  /**
   * Where to look again after accept refused a match, as an offset within it; without it the search goes on after the
   * match. "Per Cecelia Romaguera" is refused as given name Per: the name starts at the next word.
   */
  retryFrom?: (m: RegExpExecArray) => number;
  date?: (m: RegExpExecArray) => DateParts | undefined;
  /**
   * Several spans in one match, as [start, end) offsets within it: the names of a list after its label. (A lookbehind
   * for the label before each name cost more than every other English detector together.)
   */
  parts?: (m: RegExpExecArray) => [number, number][];
  /**
   * Can match text without any digit (Chinese numerals, e-mail addresses, URLs, hex-letter IPv6), so it runs on
   * digit-free text too. Every other detector's pattern needs a digit and is skipped there (a hot-path saving).
   */
  digitFree?: boolean;
}

const MONTH_NAMES = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const MONTH_FULL_NAMES = MONTH_NAMES.join('|');
const MONTH_RE_SRC =
  '(Jan(?:uary)?|JAN(?:UARY)?|Feb(?:ruary)?|FEB(?:RUARY)?|Mar(?:ch)?|MAR(?:CH)?|Apr(?:il)?|APR(?:IL)?|May|MAY|Jun(?:e)?|JUN(?:E)?|Jul(?:y)?|JUL(?:Y)?|Aug(?:ust)?|AUG(?:UST)?|Sep(?:t(?:ember)?)?|SEP(?:T(?:EMBER)?)?|Oct(?:ober)?|OCT(?:OBER)?|Nov(?:ember)?|NOV(?:EMBER)?|Dec(?:ember)?|DEC(?:EMBER)?)';

/** The month and day of holidays fixed in the calendar (day 0: a month only, as Thanksgiving's day moves). */
const HOLIDAY_DAYS: Record<string, readonly [number, number]> = {
  'Christmas Eve': [12, 24],
  Christmas: [12, 25],
  'Christmas Day': [12, 25],
  'New Years Eve': [12, 31],
  'New Years': [1, 1],
  'New Years Day': [1, 1],
  Thanksgiving: [11, 0],
  'Thanksgiving Day': [11, 0],
  'Independence Day': [7, 4],
  'Fourth of July': [7, 4],
  Halloween: [10, 31],
  'Valentines Day': [2, 14],
  元旦: [1, 1],
  国庆: [10, 1],
  清明: [4, 5],
};

function monthText(original: string, m: number): string {
  const full = MONTH_NAMES[m - 1];
  const short = original.replace(/\.$/, '').length <= 4 && original.length < full.length;
  const base = short ? full.slice(0, original.toLowerCase() === 'sept' ? 4 : 3) : full;
  return original === original.toUpperCase() ? base.toUpperCase() : base;
}

const ZH_NUM: Record<string, number> = {
  〇: 0,
  零: 0,
  一: 1,
  二: 2,
  三: 3,
  四: 4,
  五: 5,
  六: 6,
  七: 7,
  八: 8,
  九: 9,
};
function zhYear(s: string): number {
  let n = 0;
  for (const c of s) n = n * 10 + (ZH_NUM[c] ?? 0);
  return n;
}
function zhSmall(s: string): number {
  // 十, 十二, 二十, 二十三, 五
  if (!s.includes('十')) return ZH_NUM[s] ?? 0;
  const [a, b] = s.split('十');
  return (a ? (ZH_NUM[a] ?? 0) : 1) * 10 + (b ? (ZH_NUM[b] ?? 0) : 0);
}
const ZH_DIGITS = '〇一二三四五六七八九';
function toZhYear(y: number): string {
  return String(y)
    .split('')
    .map((c) => ZH_DIGITS[Number(c)])
    .join('');
}
function toZhSmall(n: number): string {
  if (n < 10) return ZH_DIGITS[n];
  const t = Math.floor(n / 10);
  const u = n % 10;
  return (t === 1 ? '' : ZH_DIGITS[t]) + '十' + (u ? ZH_DIGITS[u] : '');
}

const widthOf = (s: string, n: number) => (s.length >= 2 ? pad2(n) : String(n));
/** The year a written year stands for: two digits are 1941–2040. */
/** Words before a birth date: its two-digit year is past ("DOB 03/04/31" is 1931, not 2031). */
const BIRTH_DATE_BEFORE =
  /(?:\b(?:DOB|D\.O\.B\.?|[Bb]orn(?: on)?|BORN(?: ON)?|[Bb]irth ?(?:[Dd]ate|[Dd]ay)?|BIRTH ?(?:DATE|DAY)?|[Dd]ate of [Bb]irth|DATE OF BIRTH)|(?<![A-Za-z])b\.|出生(?:日期)?)\s*[:#：]?\s*$/;
/**
 * The year a date's year digits name: four as written; two as 1941-1999 or 2000-2040, or, in a birth date (m given: the
 * words before the match say so), the latest year with those digits that is not yet to come.
 */
function yearOf(ys: string, m?: RegExpExecArray): number {
  if (ys.length !== 2) return Number(ys);
  const yy = Number(ys);
  if (m && BIRTH_DATE_BEFORE.test(m.input.slice(Math.max(0, m.index - 20), m.index))) {
    const y = 2000 + yy;
    return y > new Date().getUTCFullYear() ? y - 100 : y;
  }
  return (yy > 40 ? 1900 : 2000) + yy;
}
/** A year written back with as many digits as the original. */
const yearAs = (ys: string, y: number) => (ys.length === 2 ? pad2(y % 100) : pad4(y));
/** Prepositions and verbs of motion a Chinese hospital name follows (既往于…, 转入…). */
const ZH_MOTION = '于在至到往从赴去经入转来';
const ZH_LEADING_MOTION = new RegExp(`^[${ZH_MOTION}]`);
/** A work unit's name: two characters or more, then its kind (北京大学, 首钢集团; not 本院 or 某大学). */
const ZH_UNIT =
  '\\p{Script=Han}{2,20}?(?:集团|有限公司|公司|工厂|厂|矿|研究所|学校|中学|小学|大学|学院|银行|医院|商场|超市|酒店|饭店)';
/** Working there, after the unit: 在首钢集团工作. */
const ZH_AT_WORK = '工作|上班|任职|就职|务工|打工';
/** What a person is at the unit, after it: 北京大学教授, 首钢集团职工. */
const ZH_STAFF_ROLE = '教授|教师|老师|职工|员工|工人|干部|医生|护士|工程师|会计|司机|经理|主任|厂长|校长';
/** Chinese social networks, whose handles are Chinese too. */
const ZH_NETWORKS = '微博|抖音|快手|小红书|知乎|B站|哔哩哔哩|微信公众号|视频号';
const ZH_LAST_MOTION = new RegExp(`[${ZH_MOTION}]([^${ZH_MOTION}]*)$`);
/** Words of a kind of facility, not a name (with the facility noun itself): `Outpatient Hospital`. */
const FACILITY_KIND_WORDS = new Set(
  (
    'Hospital Medical Center Health Clinic Infirmary Institute System Outpatient Inpatient Psychiatric Community ' +
    'Mental Federally Qualified Rural Skilled Nursing Rehabilitation Ambulatory Surgical Surgery Urgent Care Critical ' +
    'Access Military Treatment Independent Tribal Indian Birthing Hospice Emergency Dialysis Specialty Acute Sleep ' +
    'Pain Retail Primary Residential Substance Abuse Comprehensive Partial Mobile Student Occupational Campus Home ' +
    'Public State Local Facility Department Laboratory Dental Eye Cancer Heart Family'
  ).split(' '),
);
/** A hospital by its kind or level, not its name. */
const ZH_GENERIC_HOSPITAL =
  /^(?:当地|本地|外地|上级|下级|基层|附近|其他|其它|多家|各级|县级|市级|省级|区级|综合|专科|乡镇|乡|镇|社区|私立|公立|民营|县|市|区|省)医院$/;

function validDate(y: number | undefined, m: number, d: number | undefined): boolean {
  if (m < 1 || m > 12) return false;
  if (y !== undefined && (y < 1880 || y > 2100)) return false;
  if (d !== undefined && (d < 1 || d > daysInMonth(y ?? 2001, m))) return false;
  return true;
}

const HAN_CHAR = /[\u3400-\u9fff]/;
/** Added to a labelled detector's priority (see DETECTOR_LIST). */
const LABELLED = 100;
/** The record's own identifiers: above every detector, labelled or not (their type is known, not guessed). */
const RECORD_IDENTIFIER = 1000;

/** US state names (the two-letter codes are matched as [A-Z]{2}). */
const US_STATE_NAMES =
  'Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|New Mexico|New York|North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|Rhode Island|South Carolina|South Dakota|Tennessee|Texas|Utah|Vermont|Virginia|Washington|West Virginia|Wisconsin|Wyoming';
const US_STATE_CODES = new Set(
  'AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC'.split(
    ' ',
  ),
);
/** A place as GeoNames writes it: notes abbreviate Saint, Fort and Mount ("St. Louis", "Ft. Worth", "Mt. Vernon"). */
function gazetteerName(place: string): string {
  return place
    .replace(/^St\. /, 'Saint ')
    .replace(/^Ft\. /, 'Fort ')
    .replace(/^Mt\. /, 'Mount ');
}
/** State codes text.us-city-state leaves to text.us-city-state-code: words, credentials or medicine too. */
const AMBIGUOUS_STATE_CODES = 'CO|DE|HI|ID|IN|LA|MA|MD|ME|MS|NE|OK|OR|PA';
const PLAIN_STATE_CODES = [...US_STATE_CODES]
  .filter((c) => !AMBIGUOUS_STATE_CODES.split('|').includes(c))
  .join('|');
const US_STATE = new RegExp(`^(?:${US_STATE_NAMES}|Puerto Rico|District of Columbia)$`);
/** Countries and regions a patient comes from: larger than a state, they may stay. */
const COUNTRIES = new Set(
  (
    'mexico|canada|china|india|japan|korea|south korea|north korea|vietnam|philippines|cuba|haiti|guatemala|honduras|' +
    'el salvador|nicaragua|colombia|venezuela|brazil|peru|ecuador|argentina|chile|jamaica|dominican republic|nigeria|' +
    'ethiopia|somalia|kenya|ghana|egypt|morocco|iran|iraq|syria|afghanistan|pakistan|bangladesh|nepal|thailand|' +
    'cambodia|laos|indonesia|malaysia|taiwan|russia|ukraine|poland|germany|france|italy|spain|portugal|ireland|' +
    'england|scotland|wales|britain|great britain|united kingdom|europe|asia|africa|australia|israel|lebanon|' +
    'turkey|greece|overseas|abroad'
  ).split('|'),
);
/** Where a patient lives that is not a place: "lives in Assisted Living", "a 70 yo F from Home". */
const EN_NOT_PLACE_WORDS = new Set(
  'assisted home group skilled long shelter facility rehab rehabilitation prison jail hospice the a an her his their'.split(
    ' ',
  ),
);
/** What an employer field says when there is none to name. */
const NO_EMPLOYER =
  /^(?:none|n\/a|unemployed|retired|self-employed|student|homemaker|disabled|无|退休|待业|无业|个体|学生|农民)$/i;
/** A province (河北省) and a city (承德市): the levels of a Chinese address that may stay. */
const ZH_PROVINCE = '\\p{Script=Han}{2,7}?(?:省|自治区)';
const ZH_CITY = '\\p{Script=Han}{2,7}?(?:市|州|盟|地区)';
/** A district, county or banner: the first level below the city. */
const ZH_DIVISION = '(?:区|县|旗)';
/** Places below a district in a Chinese address (镇 not as in 镇痛, 镇静). */
const ZH_LOCALITY = '(?:乡|镇(?![痛静咳吐定])|村|屯|街道|社区|小区|家属区|家属院|大院|新村)';
/** Anatomical and ward areas written like districts: 心前区, 肝区, 术区, 病区. */
const ZH_MEDICAL_AREA =
  /(?:病|术|心前|肝|肾|脾|腹|胸|盆|颈|背|腰|臀|会阴|前|后|上|下|左|右|中|内|外|分|治疗|手术|监护|隔离|透析|疫)区/u;
/** Anything naming a place below the city. */
const ZH_BELOW_CITY = /区|县|旗|乡|镇|村|屯|街|路|巷|号|弄|胡同|组|家属/u;
const zhSurnameAlt = `(?:${ZH_COMPOUND_SURNAMES.join('|')}|[${ZH_SURNAMES}])`;
/** Characters that end a Chinese name: the next word starts (患者王明因头痛: 王明, not 王明因). */
const ZH_NAME_STOP =
  '因于在入出诉主自由经男女今昨近来到已无有为是的等及和与以行伴既现收诊术后前病住门急年岁月日之家属述说对向给被把将再又也均示见查陪签代送';
const zhGiven = `[\\p{Script=Han}](?:(?![${ZH_NAME_STOP}])[\\p{Script=Han}])?`;
/**
 * What follows a name that a context word introduces: punctuation or a symbol (an HL7 field's |), a space, the end, or
 * the words that start the next clause (患者王明因头痛, 患者王小明，男; not the 因 of 罗哌卡因, 丁卡因, 咖啡因).
 * Without it, 患者全身乏力 read as the name 全身乏, taking the medicine after it.
 */
const ZH_NAME_END =
  '(?=[\\s\\p{P}\\p{S}]|$|(?<![卡啡])因|于|自|诉|述|主因|主诉|男|女|今|昨|入院|来院|来我院|就诊|陪同|代(?:签|诉|述|为)|签字|签名|送|之)';
/** Relatives and others close to a patient, as a context word before a name and as a role after it (张伟（患者丈夫）). */
const ZH_RELATIONS =
  '配偶|母亲|父亲|丈夫|妻子|儿子|女儿|哥哥|姐姐|弟弟|妹妹|爷爷|奶奶|外公|外婆|祖父|祖母|孙子|孙女|侄子|侄女|外甥|儿媳|女婿|老伴|爱人|朋友|同事|邻居|同学|亲属|监护人|代理人|委托人|陪护|护工|保姆';
/** Words after which a Chinese name follows: the patient, relatives, clinicians, signatures. */
const ZH_NAME_CONTEXT = `患者|病人|患儿|姓名|病患|家属|联系人|签字|代签人|见证人|授权人|被授权人|法定代理人|经办人|陪同人|${ZH_RELATIONS}|[之其](?:子|女|妻|夫|父|母)|主治医师|主治医生|经治医师|住院医师|主任医师|副主任医师|医师|医生|护士|签名|记录者|记录人|报告医师|审核医师|申请医师|检查医师|会诊医师|报告人|审核人`;

/**
 * The characters an alternation of words can start with, as a character class body: a lookahead on it before the
 * alternation lets the regex skip, at one test per character, the positions where no word starts.
 */
function firstCharsOf(alternation: string): string {
  const chars = new Set<string>();
  for (const word of alternation.split('|')) {
    const m = /^\[([^\]]+)\]/u.exec(word);
    for (const c of m ? m[1] : word[0]) chars.add(c);
  }
  return [...chars].join('');
}

/** Professional titles after a name (黄勇主治医师, 陈静主任); the longer ones first. */
const ZH_TITLES =
  '先生|女士|小姐|副主任医师|主任医师|主治医师|主治医生|住院医师|主管护师|护士长|医生|大夫|医师|护师|护士|副主任|主任|院长|教授|老师|阿姨|师傅';

const ZH_TITLE_AT_END = new RegExp(`(?:${ZH_TITLES})$`, 'u');

/**
 * Whether a Chinese name candidate (a surname and up to two characters) reads as a name: not a disease or drug that
 * starts with a surname character (高血压, 华法林), not a common word that does (全身, 查房), not 于 as a preposition
 * (患者于去年, 于我院; 于宝珍 is a name), and not a context word itself (家属和患者签字).
 */
function readsAsZhName(name: string): boolean {
  if (ZH_MEDICAL_TERMS.some((t) => name.startsWith(t)) || ZH_COMMON_WORDS.some((t) => name.startsWith(t)))
    return false;
  if (/^于[今昨去前明次当同近本上下我外门急院入出术发晨晚夜凌午该此其]/u.test(name)) return false;
  return !/患者|病人|家属|医生|医师|护士|本人/u.test(name);
}

const EN_STOP = new Set(
  'The A An He She It They We I You His Her Their This That These Those Was Is Has Had Have Were Are Be Been Not No Yes On In At Of For With To From By And Or But As Also Reports Denies States Presents Complains Patient History Plan Assessment Today Yesterday Tomorrow Left Right Chronic Acute Mild Severe Normal Negative Positive Follow Continue Start Stop Take Return Call See Note Diagnosis Medications Allergies Dr Mr Mrs Ms Miss Mx Prof Doctor'.split(
    ' ',
  ),
);

/**
 * Latin letters, upper and lower case, for names written in European languages (Wróblewski, Joaquín, Ødegaard). Ranges,
 * not \p{Lu}: a Unicode property class at every position of a Chinese note cost the name detectors twice their time.
 * Latin Extended-A interleaves its cases, so both classes hold all of it.
 */
const LATIN_UPPER = 'A-ZÀ-ÖØ-ÞĀ-ž';
const LATIN_LOWER = 'a-zß-öø-ÿĀ-ž';
const LATIN = `${LATIN_UPPER}${LATIN_LOWER}`;
/** One word of a person's name: Whitmore, Vasquez-Whitmore, McCarthy, O'Neill, Wróblewski. */
const EN_NAME_WORD = `(?:Ma?c|O['’]|D['’])?[${LATIN_UPPER}][${LATIN_LOWER}'’]{1,30}(?:-[${LATIN_UPPER}][${LATIN_LOWER}'’]{1,30})?`;
/** Initials before a surname: "K. Patel", "J. R. Doe". */
const EN_INITIALS = '(?:[A-Z]\\.\\s?){1,2}';
/** Particles inside a surname: "Maria de la Cruz", "Pieter van der Berg". */
const EN_PARTICLES = '(?:(?:de|del|della|la|le|van|von|der|den|da|di|du|dos|das|bin|ibn|al|el|ter)\\s){0,2}';
/** A name of one to three words, initials, a middle initial and particles allowed. */
const EN_NAME = `(?:${EN_INITIALS})?${EN_NAME_WORD}(?:\\s[A-Z]\\.)?(?:\\s${EN_PARTICLES}${EN_NAME_WORD}){0,2}`;
/**
 * EN_NAME within its line: after a label, the next line is another field ("Husband: Bartholomew\nFather: ..." took
 * Father as the family name and left the father's name after it).
 */
const EN_NAME_IN_LINE = EN_NAME.replaceAll('\\s', ' ');
/**
 * What a clinician does to a patient or a record, before "by" and the clinician's name ("seen by", "dictated by"): a
 * relation phrase in a note, a role label in a report header.
 */
const CLINICIAN_ACTS = [
  'seen',
  'referred',
  'signed',
  'examined',
  'dictated',
  'authenticated',
  'verified',
  'transcribed',
  'read',
  'interpreted',
  'performed',
  'reviewed',
  'ordered',
  'approved',
];
/**
 * Context words for a relative, a carer or whoever referred, saw or brought the patient: the capitalized word after
 * them is a name whether or not a dictionary knows it ("her son Desmond", "referred by Jean-Luc Picard"), unless it is
 * a common word, a condition, a service or a weekday ("referred by Urgent Care").
 */
const EN_RELATION_PHRASES = [
  'spouse',
  'mother',
  'father',
  'wife',
  'husband',
  'daughter',
  'son',
  'sister',
  'brother',
  'guardian',
  'neighbou?r',
  'friend',
  'caregiver',
  'roommate',
  'partner',
  'boyfriend',
  'girlfriend',
  'aunt',
  'uncle',
  'niece',
  'nephew',
  'cousin',
  'grand(?:son|daughter|mother|father)',
  'brother-in-law',
  'sister-in-law',
  'mother-in-law',
  'father-in-law',
  'son-in-law',
  'daughter-in-law',
  'step(?:son|daughter)',
  'aide',
  'home aide',
  'health care proxy',
  ...CLINICIAN_ACTS.map((act) => `${act} by`),
  'co-?signed by',
  'transported by',
  'accompanied by',
  'brought in by',
  // clergy, and what a person is called
  'pastor',
  'priest',
  'rabbi',
  'imam',
  'go(?:es)? by',
  'prefers to be called',
  'maiden name(?: is| was)?',
  'nicknamed',
];
/** Abbreviations among those contexts, in capitals only (they are words in lower case). */
const EN_RELATION_ABBREVIATIONS = 'HCP|POA|PCP';
const EN_RELATION = new RegExp(
  `^(?:${EN_RELATION_PHRASES.join('|')}|${EN_RELATION_ABBREVIATIONS})(?:'s)?$`,
  'i',
);
/** Titles before a person's name: "Dr. Patel", "Mrs Okafor". */
const EN_TITLES = ['Dr', 'Mr', 'Mrs', 'Ms', 'Miss', 'Mx', 'Prof', 'Doctor'];
/** Credentials after a clinician's name: "Siobhan McCarthy RN", "Tomasz Wróblewski, PharmD". */
const EN_CREDENTIALS =
  'MD|M\\.D\\.|DO|RN|NP|PA-C|PA|PharmD|PhD|DDS|DMD|MSW|LCSW|CNM|CRNA|APRN|FNP|LPN|DPM|DNP';

const CREDENTIAL_AFTER = new RegExp(` (?:${EN_CREDENTIALS})$`);

/**
 * Not a family name: a stop word or a word that names no one, capitalized as it would follow a given name ("Mary
 * Smith Today" is Mary Smith, not a three-word name that a rejected "Today" would lose whole).
 */
const EN_NOT_FAMILY = `(?!(?:${[...EN_STOP, ...[...EN_NOT_NAME_WORDS].map((w) => w[0].toUpperCase() + w.slice(1))].join('|')})(?![${LATIN}]))`;

/**
 * What a person does in a note, after their name ("Desmond called", "Jasper Champlin will follow up"). The first
 * group only people do, so that a name that is also an eponym (Conn, Barrett, Rocky) is a person before it; the
 * second a condition can do too ("Graves noted").
 */
const EN_PERSON_VERB =
  /(?:called|calls|phoned|says|said|states|stated|reports|reported|agrees|agreed|declines|declined|requests|requested|wants|wishes|prefers|would like|will call|will follow|will return|rescheduled|cancell?ed|checked in|missed|arrived)\b/;
const EN_REPORTING_VERB = new RegExp(
  `(?:${EN_PERSON_VERB.source}|(?:denies|denied|endorses|endorsed|complains|complained|presents|presented|returns|returned|notes|noted|feels|felt|was seen|is seen|was admitted|was discharged|underwent|tolerated|continues)\\b)`,
);

/** What only a person is, before a name: a clinician's role (a relative's is EN_RELATION's). */
const CLINICIAN_ROLE =
  /^(?:attending|physician|nurse|surgeon|provider|case manager|social worker|interpreter|chaplain|nurse practitioner|physician assistant|technologist|radiologist|sonographer|pharmacist|therapist|midwife|(?:referring|ordering|performing)(?: physician| provider| doctor)?)$/;
/**
 * What a person does, right after a name: EN_REPORTING_VERB, or being someone ("Elspeth Whitcombe is a 45 yo"). A
 * sentence about a drug or a test does not go on so ("Patient Tylenol, Advil was given").
 */
const PERSON_VERB_AFTER = new RegExp(`^,?\\s(?:(?:is|was) an?\\s|${EN_REPORTING_VERB.source})`);
/**
 * After a registration's family-first pair, what is done to a patient too ("Patient Kowalczyk, Zbigniew seen today"):
 * a drug or a finding is not written so ("Patient Awake, Alert" goes on otherwise).
 */
const PATIENT_VERB_AFTER = new RegExp(
  `${PERSON_VERB_AFTER.source}|^,?\\s(?:seen|examined|evaluated|admitted|discharged|transferred|referred|brought in|interviewed)\\b`,
);
/**
 * A word of a name the lists do not hold: no stop word, medicine, service or state, nor a word by its ending
 * ("Payment", "Billing"; not -ed, which Ahmed and Mohammed end with).
 */
function readsAsUnlistedNameWord(w: string): boolean {
  return (
    !EN_STOP.has(w) &&
    !EN_NOT_NAME_WORDS.has(w.toLowerCase()) &&
    !isMedicalWord(w) &&
    !US_STATE.test(w) &&
    !/(?:ing|ly|tion|sion|ment|ness|ous)$/i.test(w)
  );
}

/** Who is an age without being named: the patient by role, a relative, a carer (see EN_RELATION_PHRASES). */
const EN_AGE_SUBJECT_NOT_NAMES = new Set(
  (
    'patient pt client resident member subject individual veteran child baby infant newborn toddler boy girl man ' +
    'woman male female gentleman lady adult teen teenager adolescent spouse mother father wife husband daughter son ' +
    'sister brother guardian friend caregiver partner aunt uncle niece nephew cousin grandson granddaughter ' +
    'grandmother grandfather'
  ).split(' '),
);

/** A family name of the surname lists (given names that are also surnames, Kim, Tran, count too). */
function isSurname(word: string): boolean {
  const w = word.toLowerCase();
  return EN_SURNAMES.has(w) || EN_CENSUS_SURNAMES.has(w);
}

/** Capitalized words before a surname that are no given name: "The Nguyens called", "Mrs Nguyen", "Dr Tran". */
const NOT_GIVEN_BEFORE_SURNAME = new Set(
  'The This That These Those His Her Their Our My Your Its Per And Or But Then When While After Before Also Today Yesterday Dr Mr Mrs Ms Miss Mx Prof Doctor Nurse'.split(
    ' ',
  ),
);

/** A word the name dictionaries know: a given name (word or not) or a surname. */
function isDictionaryName(word: string): boolean {
  const w = word.toLowerCase();
  return (
    EN_GIVEN_NAMES.has(w) || EN_GIVEN_NAME_WORDS.has(w) || EN_SURNAMES.has(w) || EN_CENSUS_SURNAMES.has(w)
  );
}

/** What makes "Name" a thing's: "Drug Name:", "Brand Name:", "Test Name:", "File Name:". */
const NOT_A_PERSON_BEFORE_NAME =
  /\b(?:drug|product|brand|generic|proprietary|nonproprietary|trade|test|panel|procedure|study|protocol|device|file|document|form|field|facility|hospital|organi[sz]ation|org|company|manufacturer|labeler|lab|laboratory|plan|program|medication|item|host|server|street|city|state|country|insurance|payer|package|substance|ingredient|component|specimen|code|display|set|value|queue|task|rule|policy|profile|resource|element) $/i;

/** Whether a match whose label is a bare "Name" names a thing ("Drug Name: Lisinopril Tablets"), not a person. */
function namesAThing(m: RegExpExecArray, label: string, text: string): boolean {
  return (
    /^name/i.test(label) &&
    NOT_A_PERSON_BEFORE_NAME.test(text.slice(Math.max(0, (m.index ?? 0) - 24), m.index))
  );
}
/** The label of a record's name field: "Patient", "Patient Name", "Pt", "Name" (not "Drug Name" or "Test Name"). */
const FIELD_LABEL = `[Pp]atient(?: [Nn]ame)?|PATIENT(?: NAME)?|[Pp]t\\.?|PT\\.?|[Nn]ame|NAME`;
/**
 * A clinician's or a contact's label before its colon, as report headers write it ("Dictated by: JOHN DOE, MD",
 * "Referring Physician: Okafor, John A"): whatever name follows is one, as after a name label.
 */
const ROLE_LABEL_PHRASES = [
  ...[...CLINICIAN_ACTS, 'electronically signed'].map((act) => `${act} by`),
  ...['attending', 'referring', 'ordering', 'performing', 'primary care'].flatMap((w) => [
    `${w} physician`,
    `${w} provider`,
    w,
  ]),
  'physician',
  'provider',
  'technologist',
  'radiologist',
  'surgeon',
  'nurse',
  'emergency contact',
  'contact',
  'author',
  'resident',
];
/** A phrase as a label writes it: capitalized, in lower case or in capitals. */
const asLabel = (phrase: string) =>
  `[${phrase[0].toUpperCase()}${phrase[0]}]${phrase.slice(1)}|${phrase.toUpperCase()}`;
const ROLE_LABEL = `(?:${ROLE_LABEL_PHRASES.map(asLabel).join('|')})(?= ?:)`;
const ROLE_LABEL_RE = new RegExp(`^(?:${ROLE_LABEL})`);
/** A word of a name in capitals: DOE, O'NEILL, GARCIA-LOPEZ. */
const CAPS_NAME_WORD = `[${LATIN_UPPER}][${LATIN_UPPER}'’]{1,30}(?:-[${LATIN_UPPER}][${LATIN_UPPER}'’]{1,30})?`;
/** A word of a name in a name field: Title case (text.name-dictionary's words) or capitals. */
const FIELD_NAME_WORD = `(?:${EN_NAME_WORD}|${CAPS_NAME_WORD})`;

/** The word for whom a record is about, right before a name: "Patient ", "Pt: ", "Name: ". */
const RECORD_SUBJECT_BEFORE = /\b(?:[Pp]atient|PATIENT|[Pp]t\.?|[Nn]ame|NAME)\s?:?\s$/;

/** A day of the month written as an ordinal (5th, 23rd), and what makes one a time before it and ends it after. */
const DAY_OF_MONTH = '(?:3[01]|[12]\\d|[1-9])(?:st|nd|rd|th)';
const DAY_OF_MONTH_BEFORE =
  '\\b(?:(?:[Oo]n|[Ss]ince|[Ff]rom|[Uu]ntil|[Tt]ill|[Bb]y|[Bb]efore|[Aa]fter|[Tt]hrough|[Tt]hru|[Tt]o|[Aa]nd|[Oo]r)\\s(?:(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day,?\\s)?|(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day,?\\s)';
const DAY_OF_MONTH_END = `(?:[.,;:!?)]|\\s*$|\\s(?:and|or)\\s(?!\\d{1,2}(?:st|nd|rd|th)\\b)|\\s(?:of (?:this|last|next|the) month|of (?:${MONTH_FULL_NAMES})|at|in|for|to|when|with|after|before|because|but|she|he|they|we|pt|patient|was|were|is|will)\\b)`;

/** A day of the month alone: shifted within a 31-day month (its month is unknown), written back as an ordinal. */
function dayOfMonthDate(day: string): DateParts {
  return { m: 1, d: parseInt(day, 10), format: (_y, _mo, d) => `${d}${ordinal(d)}` };
}

/** "is a", "was an" or ", a" at the end of a text. */
const AGE_PHRASE_BEFORE = /(?:\s(?:is|was)|,)\s+an?\s+$/;
/** A word of a name before an age (Synthea's digits allowed: Sumiko254). */
const AGE_SUBJECT_WORD = new RegExp(`^${EN_NAME_WORD}\\d{0,4}$`);
/** A word of a name before a verb. */
const VERB_SUBJECT_WORD = new RegExp(`^${EN_NAME_WORD}$`);

/**
 * Up to `max` words ending at `end` (whitespace before `end` skipped), one space between them, each whole word
 * matching `word`, nearest last. Read backwards from the context a detector matched: a pattern anchored at the end
 * of a slice is tried from every position of it, which cost the age detector 8 µs a match.
 */
function nameWordsBefore(
  text: string,
  end: number,
  max: number,
  word: RegExp,
): { start: number; word: string }[] {
  const out: { start: number; word: string }[] = [];
  let i = end;
  while (i > 0 && /\s/.test(text[i - 1])) i--;
  while (out.length < max && i > 0) {
    let j = i;
    while (j > 0 && !/\s/.test(text[j - 1])) j--;
    const w = text.slice(j, i);
    if (!word.test(w)) break;
    out.unshift({ start: j, word: w });
    if (j < 2 || text[j - 1] !== ' ' || /\s/.test(text[j - 2])) break;
    i = j - 1;
  }
  return out;
}

/** A name of two or three words after a list's separator: ", Pieter van der Berg", " and Tomasz Wróblewski". */
const EN_LIST_NAME = new RegExp(
  `(?:[,;]\\s(?:and\\s)?|\\sand\\s)(${EN_NAME_WORD}(?:\\s[A-Z]\\.)?(?:\\s${EN_PARTICLES}${EN_NAME_WORD}){1,2})`,
  'g',
);

/**
 * Words after which an English name follows (a label, a relative, a role), lowercase; `signed` and `cc` only before a
 * colon (`signed by` and `5 cc` are others).
 * Compiled by byFirstLetter: one alternation per first letter, since an alternation of 60 phrases was the costliest
 * pattern of the scrubber (a test of every phrase at every word).
 */
const EN_NAME_CONTEXT = byFirstLetter([
  ...EN_RELATION_PHRASES,
  'patient',
  'pt\\.?',
  'name(?: is| was)?',
  'signed(?=:)',
  'discussed with',
  'spoke with',
  'attending',
  'physician',
  'nurse',
  'surgeon',
  'provider',
  'contact',
  'emergency contact',
  'case manager',
  'social worker',
  'interpreter',
  'chaplain',
  'nurse practitioner',
  'physician assistant',
  'technologist',
  'radiologist',
  'sonographer',
  'pharmacist',
  'therapist',
  'midwife',
  'referring(?: physician| provider| doctor)?',
  'ordering(?: physician| provider| doctor)?',
  'performing(?: physician| provider| doctor)?',
  'reading(?: physician| radiologist)?(?=:)',
  'resident(?=:)',
  'fellow(?=:)',
  'author(?=:)',
  'tech(?=:)',
  'coworker',
  'colleague',
  'landlord',
  'cc(?=:)',
]).concat(`|${EN_RELATION_ABBREVIATIONS}|CC(?=:)`);

/** Phrases (lowercase, regex source) as one alternation per first letter, that letter in either case. */
function byFirstLetter(phrases: string[]): string {
  const groups = new Map<string, string[]>();
  for (const p of phrases) groups.set(p[0], [...(groups.get(p[0]) ?? []), p.slice(1)]);
  return [...groups]
    .map(([c, rests]) => `[${c.toUpperCase()}${c}](?:${rests.sort((a, b) => b.length - a.length).join('|')})`)
    .join('|');
}

/**
 * Whether the word at `i` is the given name An (Vietnamese, Korean; Synthea writes "An Champlin") rather than the
 * article: the article goes only before a vowel sound, so "An" before a name that starts with a consonant is a name.
 * H is left out ("An Hispanic male"), and so are letters read as letters ("An MRI reported", "An X-ray showed"): the
 * name is a word in Title case.
 */
function anAsGivenName(words: readonly string[], i: number): boolean {
  return words[i] === 'An' && i + 1 < words.length && /^[BCDFGJ-NP-TV-Z][a-z]{2,}/.test(words[i + 1]);
}

/** Whether the words found where a name stands name someone: none is a stop word or a service, not all are medicine. */
function readsAsEnName(words: readonly string[]): boolean {
  return (
    !words.some((w) => EN_STOP.has(w) || EN_NOT_NAME_WORDS.has(w.toLowerCase())) &&
    !words.every(isMedicalWord)
  );
}

function isMedicalWord(w: string): boolean {
  return MEDICAL_TERMS.has(w.toLowerCase().replace(/['’]s$/, ''));
}

const DOSE_UNIT_AFTER =
  /^\s?(?:mg|mcg|µg|ug|g|kg|ml|l|units?|iu|mmol|mmhg|%|tabs?|tablets?|caps?|puffs?|drops?)\b/i;

/** Words after which a bare digit run is a code, not a phone number. */
const CODE_CONTEXT =
  /(?:NDC|NPI|LOINC|SNOMED|CPT|RxNorm|ICD(?:-?10)?(?:-CM)?|UDI|GTIN|lot|batch)\s*(?:code|no\.?|number|#)?\s*[:#：]?\s*$/i;

const DETECTORS: Detector[] = [
  {
    rule: 'text.cn-resident-id',
    type: 'national-id',
    priority: 90,
    re: /(?<![0-9A-Za-z])\d{6} ?(?:18|19|20)\d{2}[01]\d[0-3]\d ?\d{3}[\dXx](?![0-9A-Za-z])/g,
    accept: (m) => {
      const v = m[0].replace(/ /g, '');
      // A resident ID with a wrong check digit is still somebody's (mistyped) ID when its birth date is real.
      return isValidResidentId(v) || isValidYmd(v.slice(6, 14));
    },
  },
  {
    rule: 'text.us-ssn',
    type: 'national-id',
    priority: 85,
    re: /(?<![0-9A-Za-z-])\d{3}([- ])\d{2}\1\d{4}(?![0-9-])/g,
  },
  {
    // The last four digits of an SSN, as notes and forms ask for them ("SSN last 4: 6789", "SSN ending in 6789"): a part
    // of the number is still the number's.
    rule: 'text.ssn-last-four',
    type: 'national-id',
    priority: 85,
    needs: /SSN|SS#|Social Security/i,
    lastGroup: true,
    re: /((?:SSN|SS#|Social Security(?: No\.?| Number| #)?)\s*(?:last (?:4|four)(?: digits)?|ending(?: in| with)?|ends (?:in|with)|(?:xxx|\*{3})-(?:xx|\*{2})-)\s*[:#：]?\s*(?:is\s+)?)(\d{4})(?![0-9])/gi,
  },
  {
    rule: 'text.ssn-context',
    type: 'national-id',
    priority: 85,
    needs: /SSN|Social Security|身份证/i,
    lastGroup: true,
    // Grouped with spaces too (110105 491231 002, an old 15-digit ID as printed on the card).
    re: /(SSN|Social Security(?: No\.?| Number| #)?|身份证(?:号码|号)?)\s*[:#：]?\s*(?:is\s+)?([0-9Xx](?:[0-9Xx-]| (?=[0-9Xx])){8,22})(?![0-9A-Za-z])/gi,
  },
  {
    rule: 'text.luhn-card',
    type: 'account',
    priority: 70,
    re: /(?<![0-9A-Za-z])\d(?:[ -]?\d){12,18}(?![0-9A-Za-z])/g,
    accept: (m) => isLuhnValid(m[0]) && !/^(\d)\1+$/.test(m[0].replace(/\D/g, '')),
  },
  {
    rule: 'text.cn-mobile',
    type: 'phone',
    priority: 80,
    re: /(?<![0-9A-Za-z])(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?![0-9A-Za-z])/g,
  },
  {
    rule: 'text.cn-landline',
    type: 'phone',
    priority: 75,
    // (010)6512-3456, 0755-88888888, and from abroad +86 10 6512 3456.
    // Not a run of a UUID or a code (…-0165-2485-8214-…): no hyphen on either side.
    re: /(?<![0-9A-Za-z-])(?:(?:\(0\d{2,3}\)|0\d{2,3}-)\s?|\+86[ -]?0?\d{2,3}[ -])\d{3,4}[- ]?\d{4}(?:-\d{1,5})?(?![0-9A-Za-z]|-[0-9A-Za-z])/g,
  },
  {
    rule: 'text.us-phone',
    type: 'phone',
    priority: 75,
    re: /(?<![0-9A-Za-z-])(?:\+?1[ .-]?)?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?![0-9-])/g,
  },
  {
    // A number dialled from abroad, country code first (+44 20 7946 0958, +49 30 1234567): 8 to 15 digits (E.164).
    // North American and Chinese numbers have detectors of their own.
    rule: 'text.intl-phone',
    type: 'phone',
    priority: 74,
    needs: /\+/,
    re: /(?<![0-9A-Za-z+])\+(?!1[\s.-]?\(?\d{3}|86)[2-9]\d{0,2}(?:[\s.-]?\(\d{1,4}\))?(?:[\s.-]?\d{1,5}){2,5}(?![0-9])/g,
    accept: (m) => {
      const n = m[0].replace(/\D/g, '').length;
      return n >= 8 && n <= 15;
    },
  },
  {
    // Written without separators ("reachable at 5948684022"): NANP shape (area and exchange start 2-9), a run of
    // exactly ten digits. Drug and lab codes written bare (NDC, NPI, LOINC) keep their number.
    rule: 'text.us-phone-bare',
    type: 'phone',
    priority: 73,
    re: /(?<![0-9A-Za-z.,/-])(?:\+?1[ -]?)?[2-9]\d{2}[2-9]\d{6}(?![0-9A-Za-z]|[.,/-]\d)/g,
    accept: (m, text) => !CODE_CONTEXT.test(text.slice(Math.max(0, m.index - 16), m.index)),
  },
  {
    rule: 'text.phone-context',
    type: 'phone',
    priority: 74,
    needs:
      /phone|tel|mobile|cell|fax|pager|beeper|contact|call|reach|text|电话|手机|传真|联系|座机|固话|宅电/i,
    lastGroup: true,
    // "Called pt at 555-0134": a local number without its area code is a phone only after such words.
    re: /(phone|tel\.?|telephone|mobile|cell|fax|pager|beeper|contact|(?:call(?:ed|ing)?|reached|reachable|texted|text)(?: back)?(?: (?:pt|patient|him|her|them|family|daughter|son|wife|husband|mother|father))?(?: at| on)?|电话|手机|联系电话|联系方式|传真|座机|固话|固定电话|宅电)\s*(?:no\.?|number|#|号码)?\s*[:：]?\s*(\+?\(?\d[\d ()-]{5,18}\d)(?![\dA-Za-z])/gi,
  },
  {
    // Written so that it is not a link: "jdoe at gmail dot com", "jdoe(at)example(dot)org".
    rule: 'text.email-spelled',
    type: 'email',
    priority: 95,
    digitFree: true,
    needs: /\bdot\b/i,
    re: /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}\s?(?:\(at\)|\[at\]|\sat\s)\s?[A-Za-z0-9-]{1,63}(?:\s?(?:\(dot\)|\[dot\]|\sdot\s)\s?[A-Za-z0-9-]{1,63}){0,3}\s?(?:\(dot\)|\[dot\]|\sdot\s)\s?(?:com|org|net|edu|gov|mil|cn|us|uk|ca|io|info)(?![A-Za-z])/gi,
  },
  {
    rule: 'text.email',
    type: 'email',
    priority: 95,
    digitFree: true,
    needs: /@/,
    re: /[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}(?![A-Za-z])/g,
  },
  {
    rule: 'text.url',
    type: 'url',
    priority: 92,
    digitFree: true,
    needs: /:\/\/|www\./i,
    re: /(?:\b(?:https?|ftp):\/\/|\bwww\.)[^\s<>"'，。；）)\]]{1,2048}/gi,
  },
  {
    rule: 'text.ipv4',
    type: 'ip',
    priority: 88,
    needs: /\d\.\d/,
    re: /(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\.?\d)/g,
  },
  {
    rule: 'text.ipv6',
    type: 'ip',
    priority: 88,
    digitFree: true,
    needs: /:[0-9a-f]{1,4}:/i,
    re: /(?<![0-9a-fA-F:])(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}(?![0-9a-fA-F:])/g,
  },
  // Dates. Years alone stay (HIPAA keeps the year); everything with a month is shifted or tagged.
  {
    rule: 'text.date-ymd',
    type: 'date',
    priority: 60,
    // A separator may be doubled (2016--10--1, as typed into real Chinese notes).
    re: /(?<![0-9A-Za-z])(\d{4})([-/.]{1,2})(\d{1,2})\2(\d{1,2})(?![0-9])/g,
    date: (m) => {
      const [, ys, sep, ms, ds] = m;
      return {
        y: +ys,
        m: +ms,
        d: +ds,
        format: (y, mo, d) => `${pad4(y)}${sep}${widthOf(ms, mo)}${sep}${widthOf(ds, d)}`,
      };
    },
  },
  {
    rule: 'text.date-compact',
    type: 'date',
    priority: 55,
    re: /(?<![0-9A-Za-z])((?:19|20)\d{2})(0[1-9]|1[0-2])([0-2]\d|3[01])(?![0-9])/g,
    date: (m) => ({ y: +m[1], m: +m[2], d: +m[3], format: (y, mo, d) => `${pad4(y)}${pad2(mo)}${pad2(d)}` }),
  },
  {
    rule: 'text.date-mdy',
    type: 'date',
    priority: 60,
    re: /(?<![0-9A-Za-z/.-])(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?![0-9]|[/.-]\d)/g,
    date: (m) => {
      const [, a, sep, b, ys] = m;
      const yr = yearOf(ys, m);
      const dayFirst = Number(a) > 12;
      const mo = dayFirst ? +b : +a;
      const d = dayFirst ? +a : +b;
      const fy = (y: number) => yearAs(ys, y);
      return {
        y: yr,
        m: mo,
        d,
        format: (y, nm, nd) =>
          dayFirst
            ? `${widthOf(a, nd)}${sep}${widthOf(b, nm)}${sep}${fy(y)}`
            : `${widthOf(a, nm)}${sep}${widthOf(b, nd)}${sep}${fy(y)}`,
      };
    },
  },
  {
    rule: 'text.date-zh',
    type: 'date',
    priority: 65,
    needs: /月/,
    // A two-digit year (24年3月5日) goes with its month-day: shifted alone, the day could cross New Year and leave
    // the year naming the real one. A month and a year are a date's elements too (19年3月行手术); durations are
    // written 10年3个月, which this does not match.
    re: /(?:(\d{4}|(?<!\d)\d{2})\s?年\s?)?(\d{1,2})\s?月\s?(?:(\d{1,2})\s?([日号]))?/g,
    accept: (m) => m[1] !== undefined || m[3] !== undefined,
    date: (m) => {
      const [, ys, ms, ds, dayMark] = m;
      return {
        y: ys ? yearOf(ys, m) : undefined,
        m: +ms,
        d: ds ? +ds : undefined,
        format: (y, mo, d) => `${ys ? `${yearAs(ys, y)}年` : ''}${mo}月${ds ? `${d}${dayMark}` : ''}`,
      };
    },
  },
  {
    rule: 'text.date-zh-numerals',
    type: 'date',
    priority: 65,
    digitFree: true,
    needs: /月/,
    // 三月七日 without a year still dates the patient; 三月 alone (a month) does not.
    re: /(?:([〇零一二三四五六七八九]{4})年)?([一二三四五六七八九十]{1,2})月(?:([一二三四五六七八九十]{1,3})([日号]))?/g,
    accept: (m) => m[1] !== undefined || m[3] !== undefined,
    date: (m) => ({
      y: m[1] ? zhYear(m[1]) : undefined,
      m: zhSmall(m[2]),
      d: m[3] ? zhSmall(m[3]) : undefined,
      format: (y, mo, d) =>
        `${m[1] ? `${toZhYear(y)}年` : ''}${toZhSmall(mo)}月${m[3] ? `${toZhSmall(d)}${m[4]}` : ''}`,
    }),
  },
  {
    rule: 'text.date-month-name',
    type: 'date',
    priority: 62,
    re: new RegExp(
      // A range's last day (Jan 5-7) belongs to the date: left alone it would name the real day.
      `(?<![A-Za-z])${MONTH_RE_SRC}(\\.?)\\s{1,3}(\\d{1,2})(st|nd|rd|th)?(?:\\s?[-–]\\s?(\\d{1,2})(?![0-9]))?(?:(,?\\s{1,3})(\\d{4}|['’]\\d{2}))?(?![0-9A-Za-z])`,
      'g',
    ),
    // "May 5 mg" is a dose: a day number followed by a unit is not a date.
    accept: (m, text) =>
      m[7] !== undefined ||
      !DOSE_UNIT_AFTER.test(text.slice((m.index ?? 0) + m[0].length, (m.index ?? 0) + m[0].length + 8)),
    date: (m) => {
      const [, mn, dot, ds, suf, last, sep, ys] = m;
      // The range keeps its length; past the month's end it names the next month (Jan 30-Feb 1).
      const span = last === undefined ? 0 : Math.max(0, Math.min(30, +last - +ds));
      const through = (y: number, mo: number, d: number): string => {
        if (last === undefined) return '';
        const end = new Date(Date.UTC(y, mo - 1, d + span));
        const endMonth = end.getUTCMonth() + 1;
        return `-${endMonth === mo ? '' : `${monthText(mn, endMonth)} `}${end.getUTCDate()}`;
      };
      // A year in two digits after an apostrophe: "DOB Jan 3 '31".
      const short = ys?.length === 3;
      return {
        y: ys ? (short ? yearOf(ys.slice(1), m) : +ys) : undefined,
        m: monthNumber(mn),
        d: +ds,
        format: (y, mo, d) =>
          `${monthText(mn, mo)}${dot} ${d}${suf ? ordinal(d) : ''}${through(y, mo, d)}${ys ? `${sep}${short ? `${ys[0]}${pad2(y % 100)}` : y}` : ''}`,
      };
    },
  },
  {
    rule: 'text.date-day-month-name',
    type: 'date',
    priority: 62,
    re: new RegExp(
      `(?<![0-9A-Za-z])(\\d{1,2})(st|nd|rd|th)?\\s{1,3}(?:of\\s{1,3})?${MONTH_RE_SRC}\\.?,?\\s{1,3}(\\d{4})(?![0-9])`,
      'g',
    ),
    date: (m) => {
      const [, ds, suf, mn, ys] = m;
      return {
        y: +ys,
        m: monthNumber(mn),
        d: +ds,
        format: (y, mo, d) => `${d}${suf ? ordinal(d) : ''} ${monthText(mn, mo)} ${y}`,
      };
    },
  },
  {
    // Lab systems write 05-Mar-2024 and 5-MAR-24.
    rule: 'text.date-dmy-dash',
    type: 'date',
    priority: 62,
    re: new RegExp(`(?<![0-9A-Za-z-])(\\d{1,2})-${MONTH_RE_SRC}-(\\d{4}|\\d{2})(?![0-9A-Za-z]|-\\d)`, 'g'),
    date: (m) => {
      const [, ds, mn, ys] = m;
      return {
        y: yearOf(ys, m),
        m: monthNumber(mn),
        d: +ds,
        format: (y, mo, d) => `${widthOf(ds, d)}-${monthText(mn, mo)}-${yearAs(ys, y)}`,
      };
    },
  },
  {
    // "6 Nov", "6th of November" with no year: month and day alone still date the patient.
    rule: 'text.date-day-month-name-no-year',
    type: 'date',
    priority: 61,
    re: new RegExp(
      // Not the abbreviation's dot: at the end of a sentence it is the full stop, which a tag would swallow.
      `(?<![0-9A-Za-z.,/-])(\\d{1,2})(st|nd|rd|th)?(\\s{1,3}(?:of\\s{1,3})?|-)${MONTH_RE_SRC}(?![A-Za-z])`,
      'g',
    ),
    date: (m) => {
      const [, ds, suf, gap, mn] = m;
      return {
        m: monthNumber(mn),
        d: +ds,
        format: (_y, mo, d) => `${d}${suf ? ordinal(d) : ''}${gap}${monthText(mn, mo)}`,
      };
    },
  },
  {
    // A month/day without a year, where the words before it say it is a date ("seen 1/5", "between 1/5 and 1/9"):
    // alone, 4/5 is as often a muscle grade or a fraction. The digits first, the context behind them.
    rule: 'text.date-md-context',
    type: 'date',
    priority: 59,
    re: /(?<![\d/.])(\d{1,2})\/(\d{1,2})(?![\d/]|\.\d)(?<=\b(?:[Oo]n|[Ss]ince|[Uu]ntil|[Tt]ill|[Bb]etween|[Tt]hrough|[Tt]hru|[Ss]een|[Dd]ated|[Aa]dmitted|[Dd]ischarged|f\/u|[Rr]eturned|[Ss]tarted|[Ss]topped|[Bb]etween \d{1,2}\/\d{1,2} and)\s\d{1,2}\/\d{1,2})/g,
    date: (m) => {
      const [, a, b] = m;
      return { m: +a, d: +b, format: (_y, mo, d) => `${widthOf(a, mo)}/${widthOf(b, d)}` };
    },
  },
  {
    rule: 'text.date-month-year',
    type: 'date',
    priority: 58,
    re: new RegExp(`(?<![A-Za-z])${MONTH_RE_SRC}\\.?,?\\s{1,3}(\\d{4})(?![0-9])`, 'g'),
    date: (m) => ({ y: +m[2], m: monthNumber(m[1]), format: (y, mo) => `${monthText(m[1], mo)} ${y}` }),
  },
  {
    // A month and its year in digits: "Last seen: 12/2023", "since 03-2019". Safe Harbor keeps the year only. Not
    // inside a full date (5/12/2023) or a decimal.
    rule: 'text.date-month-year-numeric',
    type: 'date',
    priority: 58,
    re: /(?<![\dA-Za-z/.-])(0?[1-9]|1[0-2])([/-])((?:19|20)\d\d)(?![\dA-Za-z/]|[.-]\d)/g,
    // A dilution or a ratio is none: "1/2000 dilution", "titer 1/1999".
    accept: (m, text) =>
      !/(?:ratio|dilution|diluted|titer|titre|concentration)(?: of)?\s*$/i.test(
        text.slice(Math.max(0, m.index - 20), m.index),
      ) && !/^\s*dilution/i.test(text.slice(m.index + m[0].length, m.index + m[0].length + 12)),
    date: (m) => ({ y: +m[3], m: +m[1], format: (y, mo) => `${widthOf(m[1], mo)}${m[2]}${y}` }),
  },
  {
    // The same, year first: "born 1931/03", "since 2019-11". Not inside a full date (2023-04-05). With a hyphen the
    // month has two digits: LOINC and CDC race codes are four digits, a hyphen and a check digit (2093-3, 2028-9).
    // A season or a fiscal year written as a range, the next year in two digits ("2011-12"), is no month.
    rule: 'text.date-year-month-numeric',
    type: 'date',
    priority: 58,
    re: /(?<![\dA-Za-z/.-])((?:19|20)\d\d)(?:(\/)(0?[1-9]|1[0-2])|(-)(0[1-9]|1[0-2]))(?![\dA-Za-z/]|[.-]\d)/g,
    accept: (m) => m[2] === '/' || Number(m[5]) !== (Number(m[1]) + 1) % 100,
    date: (m) => {
      const [sep, ms] = m[2] ? [m[2], m[3]] : [m[4], m[5]];
      return { y: +m[1], m: +ms, format: (y, mo) => `${pad4(y)}${sep}${widthOf(ms, mo)}` };
    },
  },
  {
    // A month alone is an element of a date too (Safe Harbor keeps the year only): "surgery in October", "since
    // March", "early December". Full names after a word that makes them a time, capitalized: "may" is a verb, and a
    // month with a day or a year is another detector's.
    rule: 'text.date-month-alone',
    type: 'date',
    priority: 57,
    digitFree: true,
    needs: new RegExp(MONTH_FULL_NAMES),
    // The month first, the words before it behind it: scanning for the words first cost notes a tenth of their speed.
    re: new RegExp(
      `\\b(${MONTH_FULL_NAMES})(?<=\\b(?:[Ii]n|[Ss]ince|[Uu]ntil|[Tt]ill|[Dd]uring|[Ee]arly|[Ll]ate|[Mm]id-|[Mm]id|[Ll]ast|[Nn]ext|[Tt]his|[Bb]eginning of|[Ee]nd of|[Ss]tarting|[Ff]rom|[Tt]hrough|[Bb]efore|[Aa]fter|[Bb]y)\\s?(?:${MONTH_FULL_NAMES}))(?![A-Za-z]|,?\\s{1,3}\\d)`,
      'g',
    ),
    date: (m) => ({ m: monthNumber(m[1]), format: (_y, mo) => MONTH_NAMES[mo - 1] }),
  },
  {
    // A day of the month alone is an element of a date too: "seen on the 5th", "admitted on the 23rd, discharged on
    // the 27th", "Tuesday the 14th", "febrile on the 5th and 6th". Only after a word that makes it a time, and only
    // where the phrase ends (a stop or a joining word): "the 5th metatarsal", "on the 2nd attempt", "by the 3rd day",
    // "on the 12th Street" and "on the 2nd and 3rd toes" are no dates. The day is shifted by the patient's offset
    // within a 31-day month (the month is unknown), so two days a few apart stay as far apart.
    rule: 'text.date-day-of-month',
    type: 'date',
    priority: 56,
    lastGroup: true,
    needs: /the \d{1,2}(?:st|nd|rd|th)\b/,
    re: new RegExp(
      `${DAY_OF_MONTH_BEFORE}the\\s(${DAY_OF_MONTH})(?=${DAY_OF_MONTH_END}|\\s(?:and|or)\\s${DAY_OF_MONTH}${DAY_OF_MONTH_END})`,
      'g',
    ),
    date: (m) => dayOfMonthDate(m[1]),
  },
  {
    // The second of two days written "on the 5th and 6th": the first is text.date-day-of-month's.
    rule: 'text.date-day-of-month',
    type: 'date',
    priority: 56,
    needs: /the \d{1,2}(?:st|nd|rd|th) (?:and|or) \d/,
    re: new RegExp(
      `(?<=${DAY_OF_MONTH_BEFORE}the\\s${DAY_OF_MONTH}\\s(?:and|or)\\s)${DAY_OF_MONTH}(?=${DAY_OF_MONTH_END})`,
      'g',
    ),
    date: (m) => dayOfMonthDate(m[0]),
  },
  {
    // 10月份, 10月初, 3月中旬, 去年10月: a month (not 3个月, 1月余, 2月前, which are durations).
    rule: 'text.date-zh-month',
    type: 'date',
    priority: 57,
    needs: /月/,
    re: /(?<![0-9.])(\d{1,2})月(份|初|上旬|中旬|下旬|底|末)|(?<=去年|今年|前年|明年)(\d{1,2})月(?![0-9份初底末余前后个])/g,
    date: (m) => {
      const suffix = m[2] ?? '';
      return { m: +(m[1] ?? m[3]), format: (_y, mo) => `${mo}月${suffix}` };
    },
  },
  {
    // A holiday names its day: "Christmas Eve admission", "New Year's Day 2024", 元旦, 国庆节. Shifted as its day
    // (Thanksgiving, whose day moves, as its month). 国庆 and 清明 are given names too (陈国庆): a holiday only with 节
    // or a time word after it (国庆期间, 清明前后).
    rule: 'text.date-holiday',
    type: 'date',
    priority: 57,
    digitFree: true,
    needs:
      /Christmas|New Year|Thanksgiving|Independence Day|Fourth of July|Halloween|Valentine|元旦|国庆|清明/,
    re: /\b(Christmas(?: Eve| Day)?|New Year['’]?s(?: Eve| Day)?|Thanksgiving(?: Day)?|Independence Day|Fourth of July|Halloween|Valentine['’]?s Day)(?:,?\s(\d{4}))?(?![A-Za-z])|(元旦|(?:国庆|清明)(?=节|期间|假期|长假|前后|前|后|当天))节?/g,
    // Christmas disease and Christmas factor are haemophilia B and factor IX.
    accept: (m, text) => {
      const end = (m.index ?? 0) + m[0].length;
      return !/^\s?(?:disease|factor)/i.test(text.slice(end, end + 9));
    },
    date: (m) => {
      const [hm, hd] = HOLIDAY_DAYS[(m[1] ?? m[3]).replace(/['’]/g, '')];
      if (m[3]) return { m: hm, d: hd, format: (_y, mo, d) => `${mo}月${d}日` };
      const year = m[2] ? +m[2] : undefined;
      return {
        y: year,
        m: hm,
        d: hd || undefined,
        format: (y, mo, d) =>
          `${MONTH_NAMES[mo - 1]}${hd ? ` ${d}` : ''}${year ? `${hd ? ',' : ''} ${y}` : ''}`,
      };
    },
  },
  {
    // The lunar holidays fall on another day each year (春节 2024 was 10 February): no day to shift, so a tag.
    rule: 'text.date-holiday-lunar',
    type: 'date',
    priority: 57,
    digitFree: true,
    needs: /春节|除夕|元宵|端午|中秋/,
    re: /春节|除夕|(?:元宵|端午|中秋)(?:节|(?=期间|假期|前后|前|后|当天))/g,
  },
  {
    rule: 'text.age-over-89',
    type: 'age-over-89',
    priority: 66,
    re: /(?<![0-9.])(?:9\d|1[01]\d)(?:\s?周?岁|(?=[ -]?(?:years?[ -]old|year-old|yrs?\.?[ -]old|yo\b|y\/o|y\.o\.)|[MF]\)))/gi,
  },
  {
    // Spelled out: "Ninety-two year old", "one hundred and one years old", 九十二岁, 一百零一岁.
    rule: 'text.age-over-89-words',
    type: 'age-over-89',
    priority: 66,
    digitFree: true,
    needs: /ninety|hundred|九十|一百/i,
    re: /\b(?:ninety(?:[- ](?:one|two|three|four|five|six|seven|eight|nine))?|one hundred(?:(?: and)? (?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen))?)(?=[ -]years?[ -]old|[ -]year-old|[ -]years of age)|(?:九十[一二三四五六七八九]?|一百(?:零[一二三四五六七八九]|一?十[一二三四五六七八九]?)?)\s?周?岁/gi,
  },
  {
    rule: 'text.age-over-89-context',
    type: 'age-over-89',
    priority: 66,
    needs: /age|turn|年龄/i,
    lastGroup: true,
    re: /(aged?|age:|turned|turns|turning|年龄[:：]?)\s?((?:9\d|1[01]\d))(?![0-9])/gi,
  },
  {
    // A year of birth alone (`born in 1931`, `YOB: 1931`, 1931年出生): years stand under Safe Harbor unless they say
    // their person is over 89, so only such a year is taken (and folded into the class's year).
    rule: 'text.birth-year',
    type: 'date',
    priority: 58,
    needs: /born|b\.|birth|YOB|出生|生/i,
    re: /(?:\b(?:born(?:\s+in)?|b\.|(?:year\s+of\s+)?birth(?:\s*year)?[:：]?|YOB[:：]?)\s*|出生(?:于|在|年份?[:：]?)\s*|(?<![0-9])(?=(?:18|19)\d{2}\s*年(?:出生|生人|生(?![效产活日]))))((?:18|19)\d{2})(?![0-9]|\s*[/.-]\s*\d)/gi,
    lastGroup: true,
    accept: (m) => new Date().getUTCFullYear() - Number(m[1]) > SAFE_HARBOR_TOP_AGE,
    date: (m) => ({ y: Number(m[1]), m: 7, yearOnly: true, format: (y) => pad4(y) }),
  },
  // Record numbers, named by the words before them.
  {
    rule: 'text.mrn-context',
    type: 'mrn',
    priority: 72,
    lastGroup: true,
    needs:
      /MRN|MR#|record|patient id|pt id|encounter|visit|accession|claim|case|order|rx|prescription|chart|requisition|episode|admission|billing|invoice|referral|biopsy|specimen|path|surgical|slide|block|sample|lab|report|病历|病案|住院号|门诊号|就诊|登记号|检查号|影像号|报告号|申请单号|标本号|ID/i,
    // An English label starts a word (\b inside the group: a lookbehind before every position cost a fifth more).
    re: /(\b(?:MRN|MR#|Med(?:ical)?\.? ?Rec(?:ord)?\.?(?: No\.?| Number| #)?|Patient ID|Pt\.? ID|Encounter (?:ID|No\.?|#|Number)|Visit (?:ID|No\.?|#|Number)|Accession(?: No\.?| #| Number)?|(?:Claim|Case|Order|Rx|Prescription|Chart|Requisition|Episode|Admission|Billing|Invoice|Referral|Biopsy|Specimen|Pathology|Path|Surgical|Slide|Block|Sample|Lab|Report) ?(?:ID|No\.?|#|Number))|病历号|病案号|住院号|门诊号|就诊号|就诊卡号|登记号|检查号|影像号|报告号|申请单号|标本号|ID号)\s*[:#：]?\s*(?:is\s+)?([A-Za-z]{0,4}-?[0-9][A-Za-z0-9-]{2,24})(?![A-Za-z0-9])/gi,
  },
  {
    // A bare ID label, glued to a capital prefix as systems write it (PATID1234, PACCT110) but not inside a word
    // (uuid:…, pyrimidin-5-yl): case-sensitive, so that a lowercase letter before it can be told apart.
    rule: 'text.id-context',
    type: 'mrn',
    priority: 72,
    lastGroup: true,
    needs: /id|ACCT/i,
    re: /((?<![a-z])(?:ID|Id|ACCT)|(?<![A-Za-z])id)\s*[:#：]?\s*(?:is\s+)?([A-Za-z]{0,4}[0-9][A-Za-z0-9-]{2,24})(?![A-Za-z0-9])/g,
  },
  {
    // Hospital systems' own record numbers, in capitals only (fin and har are words): Cerner's FIN, Epic's CSN and HAR.
    rule: 'text.record-number-acronym',
    type: 'mrn',
    priority: 72,
    lastGroup: true,
    needs: /FIN|CSN|HAR|EID/,
    re: /\b(FIN|CSN|HAR|EID)\b\s*[:#]?\s*([A-Za-z]{0,4}-?[0-9][A-Za-z0-9-]{2,24})(?![A-Za-z0-9])/g,
  },
  {
    rule: 'text.account-context',
    type: 'account',
    priority: 72,
    lastGroup: true,
    needs: /acc|policy|member|insurance|medicare|beneficiary|MBI|HICN|账号|卡号|保险|医保|社保/i,
    re: /(\b(?:Account(?: No\.?| Number| #)?|Acct\.?(?: No\.?| #)?|Member (?:ID|#|No\.?|Number)|Medicare (?:Beneficiary )?(?:ID|Identifier|Number|No\.?|#)|Beneficiary (?:ID|Identifier|Number|No\.?)|MBI|HICN|Policy(?: No\.?| Number| #)?|Insurance ID|Subscriber ID)|医保号|医保卡号|医保卡|医保账号|医疗保险号|社保号|社保卡号|社会保障号|账号|卡号)\s*[:#：]?\s*(?:is\s+)?(?:No\.?\s?)?([A-Za-z]{0,4}-?[0-9][A-Za-z0-9-]{2,24})(?![A-Za-z0-9])/gi,
  },
  {
    // A Medicare Beneficiary Identifier by its shape (CMS: 11 characters, letters without S, L, O, I, B, Z).
    rule: 'text.us-mbi',
    type: 'account',
    priority: 74,
    re: new RegExp(`(?<![0-9A-Za-z])${US_MBI_SHAPE}(?![0-9A-Za-z])`, 'g'),
  },
  {
    rule: 'text.device-serial',
    type: 'device-serial',
    priority: 72,
    lastGroup: true,
    needs: /serial|S\/N|SN|序列号|设备编号/i,
    re: /(serial(?: number| no\.?| #)?|S\/N|SN|序列号|设备编号)\s*[:#：]?\s*([A-Za-z]{0,6}[0-9][A-Za-z0-9-]{2,30})(?![A-Za-z0-9])/gi,
  },
  {
    rule: 'text.accession',
    type: 'mrn',
    priority: 71,
    re: /(?<![0-9A-Za-z])(?:CT|MR|CR|US|DX|XA|NM|PT|MG|RF|DR)\d{8,12}(?![0-9A-Za-z])/g,
  },
  {
    rule: 'text.hospital-zh',
    type: 'hospital',
    priority: 44,
    lastGroup: true,
    needs: /院/,
    // Chinese has no spaces: the words before a hospital's name run into it (既往于北京协和医院). The name starts after
    // the last preposition or verb of motion within reach (于, 在, 至, 转入); without one, up to 14 characters go.
    re: new RegExp(
      `((?:[\\u4e00-\\u9fff]{0,8}[${ZH_MOTION}])?)([\\u4e00-\\u9fff]{2,14}?(?:医院|[东西南北新一二三]院|湾区院|分院|院区))`,
      'g',
    ),
    // 当地医院, 上级医院, 县医院: a kind of hospital, naming none (the pattern can take the preposition before 县).
    accept: (m) => {
      const name = m[2].replace(ZH_LEADING_MOTION, '');
      // A motion inside with no name after it (患者在医院工作, 随后转当地医院): the words before are no hospital's.
      const after = ZH_LAST_MOTION.exec(name);
      if (after && (after[1].length < 3 || ZH_GENERIC_HOSPITAL.test(after[1]))) return false;
      return !ZH_GENERIC_HOSPITAL.test(name);
    },
  },
  {
    rule: 'text.hospital-en',
    type: 'hospital',
    priority: 44,
    needs: /Hospital|Medical Center|Health Center|Clinic|Infirmary|Institute|Regional Health|Health System/,
    re: /(?<![A-Za-z])(?:[A-Z][a-z'’]{1,20}\s){1,3}(?:Hospital|Medical Center|Health Center|Clinic|Infirmary|Institute|Health System)(?![A-Za-z])|(?<![A-Za-z])[A-Z][a-z]{2,20}\sRegional Health(?![A-Za-z])/g,
    // A kind of facility names none: CMS's places of service ("Off Campus-Outpatient Hospital", "Federally Qualified
    // Health Center", "Rural Health Clinic") are terminology displays.
    accept: (m) => !m[0].split(/\s+/).every((w) => FACILITY_KIND_WORDS.has(w)),
  },
  // Names.
  {
    rule: 'text.name-title',
    type: 'name',
    priority: 50,
    lastGroup: true,
    re: new RegExp(
      `(?<![${LATIN}])(${[...EN_TITLES, 'RN', 'NP'].join('|')})\\.?\\s{1,3}((?:${EN_INITIALS})?${EN_PARTICLES}[${LATIN_UPPER}][${LATIN}'’-]{1,30}(?:\\s[A-Z]\\.)?(?:\\s${EN_PARTICLES}[${LATIN_UPPER}][${LATIN}'’-]{1,30}){0,2})`,
      'g',
    ),
    // After a title it is a person even when the word is an eponym ("Mr. Parkinson"), unless "disease" etc. follows.
    accept: (m, text) => !followedByEponymWord(text, (m.index ?? 0) + m[0].length),
  },
  {
    rule: 'text.name-context',
    type: 'name',
    priority: 48,
    lastGroup: true,
    re: new RegExp(
      `\\b((?:${EN_NAME_CONTEXT})(?:'s)?(?: [Nn]ame(?: is| was)?)?(\\s?:\\s?|\\s\\([^)\\n]{1,24}\\)\\s?:\\s?|,\\s|\\s\\(|\\s(?:is|was) |\\s["“‘']?))(${EN_NAME_IN_LINE})`,
      'g',
    ),
    accept: (m, text) => {
      const words = m[3].split(/\s+/).filter((w) => !/^[A-Z]\.$/.test(w));
      if (EN_STOP.has(words[0])) return false;
      // "Drug Name: Lisinopril Tablets", "Test Name:", "Product Name:" name a thing ("Full Name:", "Contact Name:" a
      // person).
      if (namesAThing(m, m[1], text)) return false;
      if (followedByEponymWord(text, (m.index ?? 0) + m[0].length)) return false;
      if (words.every((w) => isMedicalWord(w))) return false;
      // Family history and services: "Mother: Hypertension", "Contact: Emergency Department" name no one.
      // (The first word only: English, French and Heart are surnames too.)
      if (EN_NOT_NAME_WORDS.has(words[0].toLowerCase())) return false;
      // A colon makes it a field: whatever it holds is a name (over-scrubbing "Mother: Sarcoidosis" loses a word;
      // keeping "Mother: Zelda" would leak one).
      // So does a name stated as one ("her mother's name is Zelda", "maiden name Throckmorton").
      const label = m[1].slice(0, m[1].length - m[2].length);
      if (
        m[2].includes(':') ||
        /(?:^| )[Nn]ame (?:is|was)$/.test(label) ||
        EN_RELATION.test(label) ||
        EN_RELATION.test(label.replace(/ [Nn]ame(?: is| was)?$/, ''))
      )
        return true;
      if (words.some((w) => EN_GIVEN_NAMES.has(w.toLowerCase()) || EN_SURNAMES.has(w.toLowerCase())))
        return true;
      // A given and a family name the lists do not hold, after a clinician's role ("Attending Ignatius Farnsworth
      // reviewed the films") or before what people do ("Patient Elspeth Whitcombe presents with"): two words that are
      // no medicine, service, place or common word. One alone stays ("Attending Rounds").
      if (words.length < 2 || !words.every(readsAsUnlistedNameWord)) return false;
      const at = m.index ?? 0;
      if (PERSON_VERB_AFTER.test(text.slice(at + m[0].length, at + m[0].length + 40))) return true;
      // Inside a Title Case phrase the role is a word of a heading or a display ("Line Provider Payment Amount").
      return (
        CLINICIAN_ROLE.test(label.toLowerCase()) &&
        EN_STOP.has(/([A-Z][a-z]*)[ -]$/.exec(text.slice(Math.max(0, at - 30), at))?.[1] ?? 'The') &&
        !/^[ -][A-Z]/.test(text.slice(at + m[0].length, at + m[0].length + 2))
      );
    },
  },
  {
    // A name in a record's name field, as registration systems and report headers write it: family name first
    // ("PATIENT: DOE, JOHN", "Pt: Okonkwo, Chiamaka", "Patient Conn, Cherrie") or in capitals ("NAME: NGUYEN THI").
    // text.name-context reads one Title-case word after the label and stops at the comma, leaving the given name.
    // Within the line: the next line's label is no part of the name ("NAME: SOPHIA CASTELLANO\nMRN: ...").
    rule: 'text.name-field',
    type: 'name',
    priority: 48,
    re: new RegExp(
      `\\b(${FIELD_LABEL}|${ROLE_LABEL})( ?: ?| )(?:${EN_PARTICLES}(${FIELD_NAME_WORD}), ?(${FIELD_NAME_WORD})(?: (${FIELD_NAME_WORD}|[A-Z]\\.?)(?![${LATIN}]))?|(${CAPS_NAME_WORD}(?: [A-Z]\\.?)?(?: ${CAPS_NAME_WORD}){1,2}))(?![${LATIN}])`,
      'g',
    ),
    accept: (m, text) => {
      const words = m[3] ? [m[3], m[4]] : m[6].split(/\s+/).filter((w) => !/^[A-Z]\.?$/.test(w));
      const asWord = (w: string) => w[0] + w.slice(1).toLowerCase();
      // What a note says of its patient is no name ("PATIENT: STABLE, AFEBRILE", "PT DENIES PAIN", "Patient Tylenol,
      // Advil given"); a surname that is an eponym too is a name here ("Patient: SMITH, JANE").
      // So is one the dictionaries do not hold before a given name they do ("Patient Conn, Cherrie").
      const eponymFamilyOk = m[3] !== undefined && EN_GIVEN_NAMES.has(m[4].toLowerCase());
      // After the comma, a capitalized An is the given name: the article would be in lower case there.
      if (
        words.some(
          (w, i) =>
            (EN_STOP.has(asWord(w)) && !(i === 1 && m[3] !== undefined && w === 'An')) ||
            EN_NOT_NAME_WORDS.has(w.toLowerCase()) ||
            (isMedicalWord(w) && !isDictionaryName(w) && !(i === 0 && eponymFamilyOk)),
        ) ||
        (m[4] && US_STATE.test(asWord(m[4])))
      )
        return false;
      // A name field holds a name, known or not; after "Patient" a word the dictionaries know makes one, as does the
      // registration form "Patient: Kowalczyk, Zbigniew".
      if (/name/i.test(m[1]) || ROLE_LABEL_RE.test(m[1] + ':'))
        return !namesAThing(m, m[1], text) && (m[2].includes(':') || m[3] !== undefined);
      if (words.some(isDictionaryName)) return true;
      if (m[3] === undefined || !words.every((w) => /[a-z]/.test(w))) return false;
      // Family name first in Title case is a registration's form: a name after a colon, and without one when the
      // note goes on with what people do ("Patient Whitcombe, Elspeth presents with").
      return (
        m[2].includes(':') ||
        (words.every(readsAsUnlistedNameWord) &&
          PATIENT_VERB_AFTER.test(
            text.slice((m.index ?? 0) + m[0].length, (m.index ?? 0) + m[0].length + 40),
          ))
      );
    },
    parts: (m) => {
      const at = m[1].length + m[2].length;
      // A credential after the name in capitals is none of it ("NURSE: JANE ROE RN").
      if (m[6]) return [[at, at + m[6].replace(CREDENTIAL_AFTER, '').length]];
      const rest = m[0].slice(at);
      const givenEnd = rest.indexOf(m[4], rest.indexOf(m[3]) + m[3].length) + m[4].length;
      // A third word is a middle name or an initial ("SMITH, JANE A"), not what the note says next ("DOE, JOHN WAS").
      const middle = m[5] && (/^[A-Z]\.?$/.test(m[5]) || EN_GIVEN_NAMES.has(m[5].toLowerCase()));
      return [[at, at + (middle ? rest.length : givenEnd)]];
    },
  },
  {
    rule: 'text.name-dictionary',
    type: 'name',
    priority: 45,
    re: new RegExp(
      `(?<![${LATIN}])([${LATIN_UPPER}][${LATIN_LOWER}]{1,20})(?:\\s[A-Z]\\.)?(?:\\s${EN_NOT_FAMILY}(${EN_NAME_WORD}))?\\s${EN_NOT_FAMILY}(${EN_NAME_WORD})(?![${LATIN}])`,
      'g',
    ),
    // Refused as a given name, the first word may stand before one ("Per Cecelia Romaguera", "Called Bob Keeling").
    retryFrom: (m) => m[1].length,
    accept: (m, text) => {
      const given = m[1].toLowerCase();
      const family = m[3];
      // A given name that is also a word (Hazel, Rocky) is one only before a census surname (Hazel Schultz).
      const known =
        EN_GIVEN_NAMES.has(given) ||
        (EN_GIVEN_NAME_WORDS.has(given) && EN_CENSUS_SURNAMES.has(family.toLowerCase()));
      // A middle name (Mary Ellen Smith) is a name word too, not medicine.
      if (!known || (m[2] && isMedicalWord(m[2]))) return false;
      // Smith, Walker, Jones are eponyms and among the commonest surnames: after a given name they are a person
      // (John Smith), unless an eponym's word follows (Frank Jones fracture); Starling and Arbor never are.
      if ((isMedicalWord(family) || isMedicalWord(m[1])) && !EN_SURNAMES.has(family.toLowerCase()))
        return false;
      // Stevens Johnson Syndrome: the word after the "given name" makes it an eponym.
      if (followedByEponymWord(text, (m.index ?? 0) + m[1].length)) return false;
      return !followedByEponymWord(text, (m.index ?? 0) + m[0].length);
    },
  },
  {
    // A nickname in quotes between a given and a family name: 'Robert ("Bob") Smith', 'Margaret "Peggy" Olson'. The
    // given name is found alone by the context before it, and the quote stopped every detector before the rest.
    rule: 'text.name-nickname',
    type: 'name',
    priority: 49,
    needs: /["“]/,
    re: new RegExp(
      `(?<![${LATIN}])(${EN_NAME_WORD})\\s\\(?["“]([${LATIN_UPPER}][${LATIN_LOWER}]{1,15})["”]\\)?\\s(${EN_NAME_WORD})(?![${LATIN}])`,
      'g',
    ),
    accept: (m) =>
      (EN_GIVEN_NAMES.has(m[1].toLowerCase()) || EN_GIVEN_NAMES.has(m[2].toLowerCase())) &&
      (readsAsEnName([m[3]]) || EN_SURNAMES.has(m[3].toLowerCase())),
  },
  {
    rule: 'text.name-family-given',
    type: 'name',
    priority: 45,
    re: new RegExp(
      `(?<![${LATIN}])(${EN_NAME_WORD}),\\s([${LATIN_UPPER}][${LATIN_LOWER}]{1,20})(?:\\s([${LATIN_UPPER}][${LATIN_LOWER}'’-]{1,30}))?(?![${LATIN}])`,
      'g',
    ),
    // "Romaguera, Cecelia": a known given name after the comma makes the word before it a family name, known or not,
    // unless that word is medicine, a stop word or a service ("Diabetes, Mary" is not a name; "Hypertension, Grace"
    // is not read: grace is an English word, a given name only after a census surname, as in "Schultz, Hazel");
    // "Richmond, Virginia" is a city and its state. A third word is a middle name when it is a given name
    // ("Romaguera, Cecelia Ann"); a family name makes the comma a list's, of two people ("Dr. Okafor, Hannah
    // Lindqvist"), and the other detectors take each.
    // After the word for the person a record is about ("Patient Champlin, Jasper"), a given name that is also a word
    // makes one too, whatever the family name.
    accept: (m, text) =>
      (EN_GIVEN_NAMES.has(m[2].toLowerCase()) ||
        (EN_GIVEN_NAME_WORDS.has(m[2].toLowerCase()) &&
          (EN_CENSUS_SURNAMES.has(m[1].toLowerCase()) ||
            RECORD_SUBJECT_BEFORE.test(text.slice(Math.max(0, (m.index ?? 0) - 12), m.index ?? 0))))) &&
      !US_STATE.test(m[2]) &&
      // An eponym that is among the commonest surnames is a family name before a given name ("Smith, John",
      // "Walker, Anne"): a disease is not listed so.
      (readsAsEnName([m[1]]) ||
        (EN_SURNAMES.has(m[1].toLowerCase()) && EN_GIVEN_NAMES.has(m[2].toLowerCase()))) &&
      !(m[3] && !EN_GIVEN_NAMES.has(m[3].toLowerCase()) && readsAsEnName([m[3]])),
    parts: (m) => [
      [0, m[3] && EN_GIVEN_NAMES.has(m[3].toLowerCase()) ? m[0].length : m[1].length + 2 + m[2].length],
    ],
  },
  {
    // The subject of a note's opening sentence: "Jasper Champlin is a 45 year-old male", "Desmond, a 7-year-old boy".
    // Whoever is a given age is a person, known to the dictionaries or not; Synthea writes its people with digits
    // appended (Sumiko254 Larue605), which no real name has but which name them all the same. The age phrase is
    // matched and the name read behind it: matching names first and the phrase ahead cost notes a quarter of their
    // scrubbing speed.
    rule: 'text.name-age-subject',
    type: 'name',
    priority: 46,
    re: /(?<![0-9])\d{1,3}[- ]?(?:years?|yrs?|y\.?\s?o|months?|weeks?|days?)\b/g,
    // The words that read as a name, from the end, a relative or a role excepted ("Mother is a 60 year-old"). As a
    // sentence's subject they all go, known or not ("Zyx Qwerty is a 45 year-old"); inside a sentence, a word before
    // the last goes only when the dictionaries know it or Synthea's digits mark it ("Follow Up Jasper" names Jasper).
    parts: (m) => {
      // Most ages are no sentence's subject ("for 3 days"): settled on the few characters before them.
      const near = m.input.slice(Math.max(0, m.index - 12), m.index);
      const phrase = AGE_PHRASE_BEFORE.exec(near);
      if (!phrase) return [];
      const words = nameWordsBefore(m.input, m.index - near.length + phrase.index, 3, AGE_SUBJECT_WORD);
      if (!words.length) return [];
      const bare = words.map((w) => w.word.replace(/\d+$/, ''));
      const nameLike = (i: number) =>
        (readsAsEnName([bare[i]]) && !EN_AGE_SUBJECT_NOT_NAMES.has(bare[i].toLowerCase())) ||
        anAsGivenName(bare, i);
      let first = words.length;
      while (first > 0 && nameLike(first - 1)) first--;
      if (first === words.length) return [];
      if (
        !/(?:^|[\n.!?:;]\s*)$/.test(m.input.slice(Math.max(0, words[first].start - 8), words[first].start))
      ) {
        const last = words.length - 1;
        first = last;
        while (first > 0 && (bare[first - 1] !== words[first - 1].word || isDictionaryName(bare[first - 1])))
          first--;
        if (first === last && bare[last] === words[last].word && !isDictionaryName(bare[last])) return [];
      }
      const last = words[words.length - 1];
      return [[words[first].start - m.index, last.start + last.word.length - m.index]];
    },
  },
  {
    // A name before what people do in a note ("Desmond called back", "Jasper Champlin reports"): one word when it is a
    // given name and no English word (Desmond, not Will or Hope), two when the dictionaries know the first as a given
    // name of either kind or a surname (Johnson Schmidt). The verb is matched and the name read behind it.
    rule: 'text.name-reporting-verb',
    type: 'name',
    priority: 45,
    re: new RegExp(`\\b${EN_REPORTING_VERB.source}`, 'g'),
    parts: (m) => {
      if (m.index < 2 || m.input[m.index - 1] !== ' ') return [];
      const words = nameWordsBefore(m.input, m.index - 1, 2, VERB_SUBJECT_WORD);
      if (!words.length) return [];
      // An eponym (Conn, Graves) is a person before what only people do; before "noted" it may be the condition.
      const onlyPeople = EN_PERSON_VERB.test(m[0]);
      const person = (w: string) => !US_STATE.test(w) && (onlyPeople || !isMedicalWord(w));
      const [first, second] = words.map((w) => w.word);
      if (
        second &&
        /^[^'’-]+$/.test(first) &&
        isDictionaryName(first) &&
        person(first) &&
        person(second) &&
        !EN_STOP.has(second) &&
        !EN_NOT_NAME_WORDS.has(second.toLowerCase())
      )
        return [[words[0].start - m.index, -1]];
      // A surname the lists know before what only people do ("Nguyen called", "An Nguyen phoned"), with the word
      // before it when that reads as a given name the dictionaries do not know: a short one ("An", "Bo") is also a
      // stop word, and taking an article along costs one word of text, missing a given name costs a person.
      const one = words[words.length - 1].word;
      if (onlyPeople && isSurname(one) && person(one) && readsAsEnName([one])) {
        const given = second ? first : undefined;
        return given && !NOT_GIVEN_BEFORE_SURNAME.has(given) && /^[^'’-]+$/.test(given) && person(given)
          ? [[words[0].start - m.index, -1]]
          : [[-1 - one.length, -1]];
      }
      // The given name An before a family name ("An Champlin called"): see anAsGivenName.
      if (second && anAsGivenName([first, second], 0) && person(second) && readsAsEnName([second]))
        return [[words[0].start - m.index, -1]];
      // One word: the last ("Called Desmond", "Results reviewed. Desmond").
      return EN_GIVEN_NAMES.has(one.toLowerCase()) && person(one) ? [[-1 - one.length, -1]] : [];
    },
  },
  {
    // Who a statement is from: "Per Jasper Champlin, the pain started Monday", "according to Hazel". A word the name
    // dictionaries know, with a capitalized word after it or alone; "Per Cardiology", "per Epic" and "according to
    // Medicare" name no one.
    rule: 'text.name-per',
    type: 'name',
    priority: 45,
    needs: /\b(?:[Pp]er|[Aa]ccording to)\s[A-Z]/,
    re: new RegExp(
      `\\b(?:[Pp]er|(?:[Aa]s )?[Aa]ccording to)\\s(${EN_NAME_WORD})(?:\\s(${EN_NAME_WORD}))?(?![${LATIN}])`,
      'g',
    ),
    parts: (m) => {
      const [, first, second] = m;
      const bare = (w: string) => w.replace(/['’]s$/, '');
      const word = (w: string) => !EN_STOP.has(w) && !EN_NOT_NAME_WORDS.has(w.toLowerCase());
      // "Per An Champlin": the given name An (anAsGivenName) and the family name, known or not.
      if (second && anAsGivenName([first, bare(second)], 0) && readsAsEnName([bare(second)])) {
        const start = m[0].length - first.length - second.length - 1;
        return [[start, start + first.length + 1 + bare(second).length]];
      }
      if (!isDictionaryName(bare(first)) || !word(bare(first))) return [];
      // After a known first word a surname is a name even when it is an eponym too (Smith, Conn), unless an eponym's
      // word follows (checked below).
      const last = second && word(bare(second)) ? second : undefined;
      // Alone, an eponym is the condition ("Per Graves").
      if (!last && isMedicalWord(bare(first))) return [];
      const start = m[0].length - first.length - (second ? second.length + 1 : 0);
      const end = last ? start + first.length + 1 + bare(last).length : start + bare(first).length;
      return followedByEponymWord(m.input, m.index + end) ? [] : [[start, end]];
    },
  },
  {
    // A clinician by the credential after the name: "Siobhan McCarthy RN", "cc: Tomasz Wróblewski, PharmD".
    rule: 'text.name-credential',
    type: 'name',
    priority: 47,
    needs: new RegExp(`(?:${EN_CREDENTIALS})`),
    re: new RegExp(
      `(?<![${LATIN}'’-])(?!(?:By|And|The|With|To|From|Of|For|Per|Signed|Dictated|Seen|Dr|Attending|Nurse|Patient)\\b)(?:${EN_INITIALS}${EN_NAME_WORD}|${EN_NAME_WORD}(?:\\s[A-Z]\\.)?(?:\\s${EN_PARTICLES}${EN_NAME_WORD}){1,2})(?=,?\\s(?:${EN_CREDENTIALS})(?![${LATIN}]))`,
      'g',
    ),
    // "Internal Medicine, MD", "Emergency Department RN" name a service.
    accept: (m) => readsAsEnName(m[0].split(/\s+/).filter((w) => !/^[A-Z]\.$/.test(w))),
  },
  {
    // The second and later names of a list after one label: "Contact: Maria de la Cruz, Pieter van der Berg" (the
    // first is text.name-context's).
    rule: 'text.name-list',
    type: 'name',
    priority: 47,
    digitFree: true,
    // The colon first, the label behind it: twice as fast as scanning for the label's words.
    re: /:(?<=\b(?:cc|CC|[Cc]ontacts?|[Ee]mergency contacts?|[Ff]amily|[Vv]isitors?|[Pp]resent|[Aa]ttendees|[Pp]articipants|[Cc]are team)\s?:)[^\n]{1,160}/g,
    parts: (m) => {
      // The list ends with its sentence: a full stop that does not end a title or an initial (Dr., K.).
      const stop = /(?<!\b[A-Z][a-z]{0,2})\.(?:\s|$)/.exec(m[0]);
      const list = stop ? m[0].slice(0, stop.index) : m[0];
      const parts: [number, number][] = [];
      for (const n of list.matchAll(EN_LIST_NAME)) {
        const name = n[1];
        if (!readsAsEnName(name.split(/\s+/).filter((w) => /^[A-Z]/.test(w) && !/^[A-Z]\.$/.test(w))))
          continue;
        const at = n.index + n[0].length - name.length;
        parts.push([at, at + name.length]);
      }
      return parts;
    },
  },
  {
    rule: 'text.name-zh-context',
    type: 'name',
    priority: 52,
    lastGroup: true,
    needs: HAN_CHAR,
    re: new RegExp(
      `(?=[${firstCharsOf(ZH_NAME_CONTEXT)}])(${ZH_NAME_CONTEXT})\\s?[:：]?\\s?(${zhSurnameAlt}${zhGiven})${ZH_NAME_END}`,
      'gu',
    ),
    accept: (m) => readsAsZhName(m[2]),
  },
  {
    rule: 'text.name-zh-honorific',
    type: 'name',
    priority: 51,
    needs: HAN_CHAR,
    // 处方医师, 开方医生: the prescribing physician, not Dr. 方.
    re: new RegExp(`(?<![处开])(${zhSurnameAlt}[\\p{Script=Han}]{0,2}?)(?=${ZH_TITLES})`, 'gu'),
    accept: (m) => readsAsZhName(m[1]),
  },
  {
    // No context word before it, a role after it: 王芳陪同入院, 张伟（患者丈夫）代诉病史.
    rule: 'text.name-zh-role',
    type: 'name',
    priority: 51,
    needs: /陪同|代诉|代述|签字|[（(]/u,
    re: new RegExp(
      `${zhSurnameAlt}${zhGiven}(?=陪同|代诉|代述|签字|[（(](?:系)?(?:患者|病人)?(?:之?(?:${ZH_RELATIONS})|之[子女妻夫父母])[）)])`,
      'gu',
    ),
    accept: (m) => readsAsZhName(m[0]),
  },
  {
    // No context word at all: a sentence opens with the name and goes on as sentences about a person do (王芳今日复查,
    // 张伟因头痛就诊, 李娜，女，35岁). Only these continuations: a sentence may open with a disease or a common word.
    rule: 'text.name-zh-sentence',
    type: 'name',
    priority: 50,
    needs: HAN_CHAR,
    re: new RegExp(
      `(?<=^|[。！？；;\\n]\\s*)${zhSurnameAlt}${zhGiven}(?=今日|今晨|昨日|昨晚|(?<![卡啡])因|自诉|主诉|诉|于\\d|于(?:今|昨|当|次)日|[，,](?:男|女)[，,性]|(?:男|女)[，,、]|现年)`,
      'gu',
    ),
    // 张先生诉头痛: the title stays, text.name-zh-honorific takes the surname.
    accept: (m) => readsAsZhName(m[0]) && !ZH_TITLE_AT_END.test(m[0]),
  },
  {
    // Mid-sentence, by what the sentence says of someone: who came along (和王芳一起来院, 与张伟一同就诊, 跟刘洋一起), or who
    // called or came after a time word (今日张伟来电, 昨日李娜来院). A disease or a cell count is no companion
    // (与白细胞一同升高, 和黄疸一起出现: readsAsZhName).
    rule: 'text.name-zh-companion',
    type: 'name',
    priority: 50,
    needs: /一起|一同|同来|同行|来电|来院|来诊|到院|复诊|复查/u,
    re: new RegExp(
      `(?<=[和与跟同])${zhSurnameAlt}${zhGiven}(?=一起|一同|同来|同行)|(?<=今日|今晨|今天|昨日|昨天|昨晚|当日|次日)${zhSurnameAlt}${zhGiven}(?=来电|来院|来诊|到院|就诊|复诊|复查)`,
      'gu',
    ),
    accept: (m) => readsAsZhName(m[0]) && !ZH_TITLE_AT_END.test(m[0]),
  },
  {
    // A surname as people are called by it, 小王, 老李: after a role (护士小王测血压), or before what a person does
    // (小张陪同, 老李来电). Never alone: 小时, 小于, 小叶, 小米 and 小柴胡 start with 小 and a surname's character too
    // (after a role, 小时, 小于, 小叶, 小米, 小麦 are still words: 护士小时工).
    rule: 'text.name-zh-familiar',
    type: 'name',
    priority: 50,
    needs: /[小老]/u,
    re: new RegExp(
      `(?<=护士|护工|医生|医师|同事|实习生|护理员)[小老](?![时于叶米麦])${zhSurnameAlt}|[小老]${zhSurnameAlt}(?=陪同|来电|来院|代诉|代述|签字|送入|送来)`,
      'gu',
    ),
  },
  {
    // A colleague asked to consult: 请赵磊会诊 (请康复科会诊 asks a department).
    rule: 'text.name-zh-consult',
    type: 'name',
    priority: 51,
    needs: /会诊/u,
    re: new RegExp(`(?<=请|邀请)${zhSurnameAlt}${zhGiven}(?=会诊)`, 'gu'),
    accept: (m) => readsAsZhName(m[0]) && !/[科室部组]$/u.test(m[0]),
  },
  // Addresses.
  {
    // Whatever an address field holds, in any country's form: "Address: 17 rue de la Paix, 75002 Paris", "Addr: PO Box
    // 123". To the end of the line or the sentence; "IP address", "email address" are other fields, and "see chart",
    // "on file" hold none.
    rule: 'text.address-field',
    type: 'address',
    priority: 41,
    needs: /addr/i,
    lastGroup: true,
    re: /(?<!\b(?:IP|[Ee]-?mail|E-?MAIL|[Ww]eb|MAC|[Ii]nternet|[Ss]erver|[Hh]ost|[Nn]etwork) )\b((?:[Hh]ome|HOME|[Mm]ailing|MAILING|[Ss]treet|STREET|[Rr]esidential|RESIDENTIAL|[Pp]ermanent|PERMANENT|[Cc]urrent|CURRENT|[Pp]atient|PATIENT) )?(?:[Aa]ddress|ADDRESS|[Aa]ddr\.?|ADDR\.?)\s?[:：]\s*([^\n;]{4,160}?)(?=\s*(?:$|\n|;|\.\s+[A-Z][a-z]|\.$))/g,
    accept: (m) =>
      (/\d/.test(m[2]) || /(?:[A-Z][a-z]+\W+){1,}[A-Z][a-z]+/.test(m[2])) &&
      !/^(?:see|on file|unknown|none|n\/a|same|not|no |homeless|declined|refused)/i.test(m[2]),
  },
  {
    // An apartment or suite without its street ("lives in Apt 4C", "Suite 210"): part of a street address.
    rule: 'text.us-unit',
    type: 'address',
    priority: 41,
    re: /(?<![A-Za-z])(?:Apt|APT|Apartment|APARTMENT|Suite|SUITE|Ste|STE)\.?\s?#?\s?(?:\d{1,5}(?:-?[A-Za-z0-9]{1,3})?|[A-Z]\d{0,4})(?![A-Za-z0-9])/g,
  },
  {
    rule: 'text.us-street',
    type: 'address',
    priority: 40,
    re: /(?<![0-9A-Za-z])\d{1,6}\s(?:[NSEW]\.?\s)?(?:[A-Z][a-z]{1,20}\s){1,3}(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Circle|Parkway|Pkwy|Highway|Hwy)\b\.?(?:,?\s(?:Apt|Suite|Unit|#)\.?\s?[A-Za-z0-9-]{1,6})?/g,
  },
  {
    // Safe Harbor takes the city too: the name before ", <state> <ZIP>" (the state stays, the ZIP goes above).
    rule: 'text.us-city',
    type: 'address',
    priority: 39,
    needs: /\d{5}/,
    re: new RegExp(
      `(?<![A-Za-z])(?:(?:St|Ste|Ft|Mt)\\. )?[A-Z][a-z'’-]+(?: [A-Z][a-z'’-]+){0,2}(?=,? (?:[A-Z]{2}|${US_STATE_NAMES}),?\\s\\d{5}(?:-\\d{4})?(?![0-9]))`,
      'g',
    ),
  },
  {
    // A US place the gazetteer knows, after in, to, from, at or near ("transferred to Springfield", "last seen at
    // Mass General in Boston"), with no other context: the longest run of up to four capitalized words it names.
    // A state, a country or the start of a facility's name (Boston Medical Center, which text.hospital-en takes) stays.
    rule: 'text.us-city-named',
    type: 'address',
    priority: 39,
    digitFree: true,
    re: /\b(?:[Ii]n|[Tt]o|[Ff]rom|[Aa]t|[Nn]ear|[Aa]round|[Oo]utside(?: of)?)\s((?:(?:St|Ft|Mt)\.\s)?[A-Z][a-zß-öø-ÿ'’.-]+(?:\s[A-Z][a-zß-öø-ÿ'’.-]+){0,3})/g,
    parts: (m) => {
      const words = m[1].split(/\s+/);
      for (let n = words.length; n > 0; n--) {
        const place = words.slice(0, n).join(' ').replace(/\.$/, '');
        if (!US_CITIES.has(place) && !US_CITIES.has(gazetteerName(place))) continue;
        if (US_STATE.test(place) || COUNTRIES.has(place.toLowerCase())) return [];
        if (
          n < words.length &&
          /^(?:Hospital|Medical|Clinic|Health|University|College|Regional|General|Memorial|Children's|Community)$/.test(
            words[n],
          )
        )
          return [];
        if (n === 1 && (isMedicalWord(place) || EN_NOT_NAME_WORDS.has(place.toLowerCase()))) return [];
        const start = m[0].length - m[1].length;
        return [[start, start + place.length]];
      }
      return [];
    },
  },
  {
    // A city before its state without a ZIP ("Pt from Fresno, CA", "Fresno, California"). Codes that are also
    // credentials or medicine (Smith, MD; Jones, PA; LA, OR, IN, ID, CO, ME, MS, MA, DE, HI, NE, OK) need the full name
    // here, or a place GeoNames has in that state (text.us-city-state-code).
    rule: 'text.us-city-state',
    type: 'address',
    priority: 39,
    digitFree: true,
    re: new RegExp(
      `(?<![A-Za-z])((?:(?:St|Ft|Mt)\\. )?[A-Z][a-z'’-]+(?: [A-Z][a-z'’-]+){0,2}),\\s(?:${PLAIN_STATE_CODES}|${US_STATE_NAMES})(?![A-Za-z])`,
      'g',
    ),
    parts: (m) => {
      const words = m[1].split(' ');
      if (words.some((w) => EN_STOP.has(w) || isMedicalWord(w) || EN_NOT_NAME_WORDS.has(w.toLowerCase())))
        return [];
      return US_STATE.test(m[1]) ? [] : [[0, m[1].length]];
    },
  },
  {
    // A city before a state code that is also a word, a credential or medicine ("from Worcester, MA", "Bethesda, MD",
    // "Portland, OR"): a place when GeoNames has one of that name in that state, the longest run of up to three words
    // that is one ("Pt Lives In New Bedford, MA" takes New Bedford). A clinician whose surname is such a place
    // ("Ann Frederick, MD") loses the name as an address: it goes either way.
    rule: 'text.us-city-state-code',
    type: 'address',
    priority: 39,
    digitFree: true,
    needs: new RegExp(`, ?(?:${AMBIGUOUS_STATE_CODES})\\b`),
    re: new RegExp(
      `(?<![A-Za-z])((?:(?:St|Ft|Mt)\\. )?[A-Z][a-z'’-]+(?: [A-Z][a-z'’-]+){0,2}), ?(${AMBIGUOUS_STATE_CODES})(?![A-Za-z])`,
      'g',
    ),
    parts: (m) => {
      const words = m[1].split(' ');
      for (let i = 0; i < words.length; i++) {
        const place = words.slice(i).join(' ');
        if (
          US_PLACES_BY_AMBIGUOUS_STATE.has(`${m[2]} ${place}`) ||
          US_PLACES_BY_AMBIGUOUS_STATE.has(`${m[2]} ${gazetteerName(place)}`)
        ) {
          const start = m[1].length - place.length;
          return [[start, m[1].length]];
        }
      }
      return [];
    },
  },
  {
    // A city or county without its state, named by where the patient lives, comes from or travelled ("a 45 yo M from
    // Springfield", "lives in Cook County", "returned from Galveston"). A state or a country may stay; a facility is
    // not a place.
    rule: 'text.us-place-context',
    type: 'address',
    priority: 39,
    lastGroup: true,
    digitFree: true,
    re: new RegExp(
      // The preposition and a capital first, the context behind them: a fifth faster than scanning for the context.
      `(?:in|of|from|to)\\s(?=[${LATIN_UPPER}])(?<=\\b(?:(?:[Ll]ives|[Ll]iving|[Rr]esides|[Rr]esiding) in|[Rr]esident of|[Nn]ative of|[Mm]oved (?:here )?(?:from|to)|[Rr]elocated (?:from|to)|[Bb]orn in|[Vv]isiting from|[Oo]riginally from|is from|[Tt]ravell?ed (?:back )?(?:to|from)|[Rr]eturned (?:home )?from|[Cc]ame (?:here )?from|[Tt]rip to|[Vv]acation(?:ed|ing)? in|[Ff]lew (?:in )?from|[Dd]rove (?:in )?from|(?:yo|y/o|year-old|years? old)\\s(?:[MF]|male|female|man|woman|boy|girl|gentleman|lady)\\s(?:from|of))\\s)((?:(?:St|Ft|Mt)\\. )?[${LATIN_UPPER}][${LATIN_LOWER}'’]+(?:[\\s-][${LATIN_UPPER}][${LATIN_LOWER}'’]+){0,2})`,
      'g',
    ),
    accept: (m) => {
      const place = m[1];
      const first = place.split(/[\s-]/)[0];
      if (
        EN_STOP.has(first) ||
        EN_NOT_NAME_WORDS.has(first.toLowerCase()) ||
        EN_NOT_PLACE_WORDS.has(first.toLowerCase())
      )
        return false;
      return !US_STATE.test(place) && !COUNTRIES.has(place.toLowerCase());
    },
  },
  {
    rule: 'text.us-zip',
    type: 'postal-code',
    priority: 40,
    lastGroup: true,
    re: new RegExp(`(?<![A-Za-z])([A-Z]{2}|${US_STATE_NAMES}),?\\s(\\d{5}(?:-\\d{4})?)(?![0-9])`, 'g'),
  },
  {
    // A ZIP code named as one, with no state before it ("Zip code 02139", "postal code: 94110-1234").
    rule: 'text.zip-context',
    type: 'postal-code',
    priority: 40,
    lastGroup: true,
    needs: /[Zz]ip|ZIP|[Pp]ost(?:al ?)?code|POST(?:AL ?)?CODE/,
    re: /(?<![A-Za-z])(?:zip(?:\s?code)?|post(?:al\s?)?code)\s*(?:is\s+|#\s*|:\s*)?(\d{5}(?:-\d{4})?)(?![0-9])/gi,
  },
  {
    rule: 'text.cn-address',
    type: 'address',
    priority: 42,
    needs: /号/,
    re: /[\p{Script=Han}]{0,16}?(?:路|街|大道|大街|巷|弄|胡同|村|里|苑|小区|花园|大厦|公寓|社区|新村)\s?\d{1,5}\s?(?:号|弄)(?:院|楼)?(?:\s?\d{1,4}\s?(?:号楼|栋|幢|单元|楼|层|室|号|-\d{1,4})){0,4}/gu,
  },
  // Certificate and license numbers, vehicle identifiers and plates (Safe Harbor's 11th and 12th identifiers).
  {
    rule: 'text.license',
    type: 'license',
    priority: 72,
    lastGroup: true,
    needs:
      /[Ll]icen[cs]e|LICEN[CS]E|DL|[Ll]ic\.?\s?#|LIC\.?\s?#|[Cc]ertificate|CERTIFICATE|[Pp]assport|PASSPORT|驾驶证|驾照|执照|证书|护照|通行证|军官证|回乡证/,
    re: /(?<![A-Za-z])(driver'?s?\s+licen[cs]e(?:\s+(?:no\.?|number|#))?|DL\s?(?:no\.?|#)|lic\.?\s?#|licen[cs]e(?:\s+(?:no\.?|number|#)|(?=\s*:))|certificate\s+(?:no\.?|number|#)|passport(?:\s+(?:no\.?|number|#))?|驾驶证号?|驾照号?|执照号|证书编号|护照号?码?|(?:港澳|台湾|往来港澳|往来台湾)?通行证号?码?|军官证号?|回乡证号?)\s*[:#：]?\s*(?:is\s+)?([A-Za-z0-9][A-Za-z0-9-]{4,20})(?![A-Za-z0-9])/gi,
    // A content licence is no one's: "license: CC0-1.0", "License: Apache-2.0".
    accept: (m) => /\d/.test(m[2]) && !/^(?:CC|MIT|GPL|LGPL|AGPL|Apache|BSD|MPL|EPL)/i.test(m[2]),
  },
  {
    rule: 'text.license-plate',
    type: 'vehicle',
    priority: 72,
    lastGroup: true,
    needs: /plate|tag number|车牌/i,
    re: /(?<![A-Za-z])((?:license|licence|number)\s+plate|plate(?:\s+(?:no\.?|number|#))?|tag\s+number|车牌号?码?)(?![A-Za-z])\s*[:#：]?\s*(?:is\s+)?([A-Z0-9]{1,4}[- ]?[A-Z0-9]{2,5})(?![A-Za-z0-9])/gi,
    accept: (m) => /\d/.test(m[2]),
  },
  {
    rule: 'text.cn-plate',
    type: 'vehicle',
    priority: 72,
    needs: /[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-Z]/,
    re: /[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-Z][·•]?(?=[A-Z0-9]{0,5}\d)[A-Z0-9]{5,6}(?![A-Za-z0-9])/g,
  },
  {
    rule: 'text.vin-context',
    type: 'vehicle',
    priority: 73,
    lastGroup: true,
    needs: /VIN|vehicle identification|车架号|车辆识别/i,
    re: /(?<![A-Za-z])(VIN|vehicle identification number|车架号|车辆识别代号)\s*[:#：]?\s*([A-HJ-NPR-Za-hj-npr-z0-9]{17})(?![A-Za-z0-9])/g,
  },
  {
    rule: 'text.vin',
    type: 'vehicle',
    priority: 72,
    // Upper case, as VINs are written; and a VIN has a letter beside a digit somewhere, which prose rarely has.
    needs: /[0-9][A-HJ-NPR-Z]|[A-HJ-NPR-Z][0-9]/,
    re: /(?<![A-Za-z0-9])[A-HJ-NPR-Z0-9]{17}(?![A-Za-z0-9])/g,
    // Checksummed: any 17-character run whose check character agrees (1 in 11 random runs would).
    accept: (m) => readsAsVin(m[0]),
  },
  // Contact accounts: WeChat, QQ, Weibo and the like name a person as surely as a phone number.
  {
    rule: 'text.contact-account',
    type: 'account',
    priority: 73,
    lastGroup: true,
    digitFree: true,
    needs: /微信|QQ|微博|钉钉|wechat|weibo|skype|telegram/i,
    re: /(微信号?|QQ号?|微博(?:号|账号)?|钉钉号?|WeChat(?: ID)?|Weibo|Skype|Telegram)\s*[:：]?\s*(@?[A-Za-z0-9][A-Za-z0-9_.-]{4,30})(?![A-Za-z0-9_])/gi,
  },
  {
    // A social media handle names a person as an e-mail address does: "twitter @maryk1950", "Instagram: jane.doe_88".
    // After the network's name, an @ or a colon makes it one ("found on Facebook group" is none).
    rule: 'text.social-handle',
    type: 'account',
    priority: 73,
    lastGroup: true,
    digitFree: true,
    needs: /twitter|instagram|insta|tiktok|snapchat|facebook|threads|bluesky|handle/i,
    re: /\b(?:twitter|instagram|insta|tiktok|snapchat|facebook|threads|bluesky|X handle|handle)(?: handle| account| ID)?(?:\s*[:：]\s*|\s+)((?<=[:：]\s*)[A-Za-z0-9_][A-Za-z0-9_.]{2,29}|@[A-Za-z0-9_][A-Za-z0-9_.]{1,29})(?![A-Za-z0-9_])/gi,
  },
  {
    // The same on Chinese networks, whose handles are Chinese too: 微博@张三丰1931, 抖音号：zsf_1931, 小红书ID：...
    rule: 'text.social-handle-zh',
    type: 'account',
    priority: 73,
    lastGroup: true,
    digitFree: true,
    needs: new RegExp(ZH_NETWORKS),
    re: new RegExp(
      `(?:${ZH_NETWORKS})(?:号|账号|帐号|ID|id|昵称|名)?(?:\\s*[:：]\\s*|\\s*)((?<=[:：]\\s*)[\\p{Script=Han}A-Za-z0-9_][\\p{Script=Han}A-Za-z0-9_.-]{1,29}|@[\\p{Script=Han}A-Za-z0-9_][\\p{Script=Han}A-Za-z0-9_.-]{0,29})`,
      'gu',
    ),
  },
  {
    // A portal or system account: "patient portal user evwhitmore31", "Username: jdoe".
    rule: 'text.username',
    type: 'account',
    priority: 73,
    lastGroup: true,
    digitFree: true,
    needs: /user|login|portal/i,
    re: /\b(user ?name|user ?ID|login(?: ID| name)?|portal (?:user(?: ?name)?|account|ID|login))(\s*[:：]\s*|\s+)([A-Za-z0-9][A-Za-z0-9_.@-]{1,39}[A-Za-z0-9_])(?![A-Za-z0-9_])/gi,
    // Without a colon, only a value that reads as an account (a digit or an underscore in it), not "user name is".
    accept: (m) => /[:：]/.test(m[2]) || /[\d_]/.test(m[3]),
  },
  // An employer is an identifier under Safe Harbor (the individual's or a relative's) and in GB/T 37964.
  {
    rule: 'text.employer',
    type: 'employer',
    priority: 46,
    lastGroup: true,
    digitFree: true,
    needs: /单位|就职|任职|供职|employ|work|retired from/i,
    re: /(工作单位|就职于|任职于|供职于|[Ee]mployer(?:,| is)?|[Ee]mployed (?:at|by|with)|[Ww]ork(?:s|ed|ing)? (?:at|for)|[Ww]orks as an? [a-z]+(?: [a-z]+)? (?:at|for)|[Rr]etired from)\s*[:：]?\s*([\p{Script=Han}（）()]{2,30}|[A-Z][A-Za-z&'’-]*(?: (?:[A-Z][A-Za-z&'’-]*|of|and|&)){0,5}(?:,? (?:Inc|Co|Corp|Ltd|LLC)\.?)?)/gu,
    accept: (m) => !NO_EMPLOYER.test(m[2]),
  },
  {
    // Where a person works, said of them: 原在首钢集团工作, 在北京某某有限公司上班. A unit's kind ends it (集团, 公司, 厂,
    // 学校...), two characters or more before it: 在医院工作 and 在本院工作 name no one's employer.
    rule: 'text.employer-zh',
    type: 'employer',
    priority: 46,
    lastGroup: true,
    digitFree: true,
    needs: new RegExp(ZH_AT_WORK),
    re: new RegExp(`在(${ZH_UNIT})(?=${ZH_AT_WORK})`, 'gu'),
  },
  {
    // A unit named by what the person is there: 患者系北京大学退休教授, 为首钢集团职工, 原某某有限公司会计.
    rule: 'text.employer-zh-role',
    type: 'employer',
    priority: 46,
    lastGroup: true,
    digitFree: true,
    needs: new RegExp(ZH_STAFF_ROLE),
    re: new RegExp(
      `(?:系|为|是|原|曾任|现任)(${ZH_UNIT})(?=(?:退休|离休|在职|下岗)?(?:${ZH_STAFF_ROLE}))`,
      'gu',
    ),
  },
  // Chinese addresses without a house number: GB/T 37964 (and Safe Harbor) take everything below the city. Medicine
  // also ends words in 区 (心前区, 术区, 病区) and 镇 (镇痛, 镇静), so a division counts only after a city (承德市双滦区),
  // before a locality (双滦区应营子村), or after a word that introduces an address (籍贯, 现住, 住址).
  {
    rule: 'text.cn-district',
    type: 'address',
    priority: 42,
    lastGroup: true,
    needs: /[区县旗]/,
    re: new RegExp(
      `((?:${ZH_PROVINCE})?${ZH_CITY})(\\p{Script=Han}{1,6}?${ZH_DIVISION}(?:\\p{Script=Han}{0,10}?${ZH_LOCALITY})?)`,
      'gu',
    ),
  },
  {
    rule: 'text.cn-locality',
    type: 'address',
    priority: 42,
    needs: /[区县旗]/,
    // The district's name holds no 省 or 市: after a city, text.cn-district takes it and the city stays.
    re: new RegExp(
      `(?:(?![省市州盟])\\p{Script=Han}){2,4}?${ZH_DIVISION}\\p{Script=Han}{1,8}?${ZH_LOCALITY}`,
      'gu',
    ),
    accept: (m) => !ZH_MEDICAL_AREA.test(m[0]),
  },
  {
    rule: 'text.cn-address-context',
    type: 'address',
    priority: 41,
    lastGroup: true,
    needs: /籍贯|原籍|住址|现住|家住|户籍|户口|居住地|出生地|地址/,
    re: new RegExp(
      `(籍贯|原籍|现住址|住址|现住(?!院)|家住|户籍所在地|户籍地|户籍|户口所在地|居住地|出生地|地址)\\s?[:：]?\\s?((?:${ZH_PROVINCE})?(?:${ZH_CITY})?)([\\p{Script=Han}0-9-]{2,40}?)(?=人|[^\\p{Script=Han}0-9-]|$)`,
      'gu',
    ),
    // The province and city may stay (as after text.cn-district); what names a smaller place goes, up to the 人 of
    // 某某人 (a native of).
    accept: (m) => ZH_BELOW_CITY.test(m[3]),
  },
  {
    rule: 'text.cn-postal-code',
    type: 'postal-code',
    priority: 40,
    needs: /邮编|邮政编码/,
    lastGroup: true,
    re: /(邮编|邮政编码)\s?[:：]?\s?(\d{6})(?!\d)/g,
  },
];

/**
 * The detectors with every field present (undefined where a detector has none): the detector loop then sees one
 * object shape, where a dozen shapes made V8 throw its optimized code away whenever it met another.
 */
const DETECTOR_LIST: readonly Detector[] = DETECTORS.map((d) => ({
  rule: d.rule,
  type: d.type,
  re: d.re,
  // A value found by its label (住院号：…, MRN …) is what the label says, over a shape it happens to have (ten digits
  // read as a phone): at equal extent a labelled span wins whatever its priority.
  priority: d.priority + (d.lastGroup ? LABELLED : 0),
  needs: d.needs,
  lastGroup: d.lastGroup,
  accept: d.accept,
  retryFrom: d.retryFrom,
  parts: d.parts,
  date: d.date,
  digitFree: d.digitFree,
}));

function ordinal(n: number): string {
  const t = n % 100;
  if (t >= 11 && t <= 13) return 'th';
  return ['th', 'st', 'nd', 'rd'][n % 10] ?? 'th';
}

type OwnIdentifier = string | SourceIdentifier;
const ownPatternCache = new WeakMap<readonly OwnIdentifier[], TypePattern<PhiType>[]>();

/** The PHI type a record identifier stands for in text; plain strings are classified by their look. */
function ownType(i: OwnIdentifier): PhiType {
  if (typeof i !== 'string') {
    switch (i.type) {
      case 'name':
        return 'name';
      case 'telecom':
        return i.value.includes('@') ? 'email' : 'phone';
      case 'address':
      case 'city':
        return 'address';
      case 'postal-code':
        return 'postal-code';
      case 'birth-date':
        return 'date';
      default:
        // A national ID among the record's identifiers gets a surrogate of its own kind: "SSN ***-**-4821", not
        // "SSN MRN-FD6GMW2M".
        return isValidUsSsn(i.value) || isValidResidentId(i.value) ? 'national-id' : 'mrn';
    }
  }
  if (i.includes('@')) return 'email';
  if (/^[\p{L}\s'’.-]+$/u.test(i) || /^(?:\p{L}+\d{0,4}\s?)+$/u.test(i)) return 'name';
  return 'mrn';
}

/**
 * The record's own identifiers grouped by PHI type, cached per identifiers array. A type's alternatives are built only
 * once some text holds one of its cores (most records' identifiers never reach that).
 */
function compileOwnIdentifiers(identifiers: readonly OwnIdentifier[]): TypePattern<PhiType>[] {
  let list = ownPatternCache.get(identifiers);
  if (!list) {
    const groups = new Map<PhiType, string[]>();
    for (const i of identifiers) {
      const t = ownType(i);
      const g = groups.get(t) ?? [];
      g.push(typeof i === 'string' ? i : i.value);
      groups.set(t, g);
    }
    list = typePatternsOf(groups);
    ownPatternCache.set(identifiers, list);
  }
  return list;
}

/**
 * Short strings that held no PHI for a given set of record identifiers (code texts, displays repeat across a
 * batch): remembered so the detectors run once per distinct string and patient, not once per resource.
 */
const NO_IDENTIFIERS: readonly OwnIdentifier[] = [];
const cleanCache = new WeakMap<readonly OwnIdentifier[], Set<string>>();
const CLEAN_MAX_LENGTH = 256;
const CLEAN_MAX_ENTRIES = 20_000;

/**
 * What the detectors find depends on the text alone (not on the patient or the record), so a short string's spans
 * are remembered across patients: code texts and displays recur in every record. Spans are never mutated
 * afterwards (overlap resolution copies), so the cached array is shared.
 */
const detectorCache = new Map<string, readonly Span[]>();
const DETECTOR_CACHE_MAX_ENTRIES = 50_000;

function detectorSpansCached(folded: string): readonly Span[] {
  let spans = detectorCache.get(folded);
  if (!spans) {
    spans = detectorSpans(folded);
    if (detectorCache.size >= DETECTOR_CACHE_MAX_ENTRIES) detectorCache.clear();
    detectorCache.set(folded, spans);
  }
  return spans;
}

/** Forget every remembered string (benchmarks measure a cold process with it). */
export function clearTextScrubberCaches(): void {
  detectorCache.clear();
}

/** Words a line in capitals is read with in lower case: what the detectors expect in lower case mid-sentence. */
const CAPS_AS_LOWER = new Set([
  ...[...EN_STOP].filter((w) => !EN_TITLES.includes(w)).map((w) => w.toLowerCase()),
  ...EN_NOT_NAME_WORDS,
  ...'by with for and the of to in on at as is was were be been has had have seen per via who which that this his her he she they we our your their its or but not no yes from into over under after before during since until while about above below then than so if when where what how all any some each every other same new old first last next on off up down out back again also only very more most less least much many few its one two three four five six seven eight nine ten year years yr yrs month months week weeks day days hour hours old yo male female man woman boy girl'.split(
    ' ',
  ),
]);

const COMMON_WORD_ENDING = /(?:ed|ing|ly|tion|sion|ment|ness|ous)$/;
/** A word in capitals (WRÓBLEWSKI whole), or the article A (not an initial: "J. SMITH", "A. NGUYEN"). */
const CAPS_WORD = new RegExp(`\\bA\\b(?![.'’])|[${LATIN_UPPER}][${LATIN_UPPER}'’]+`, 'g');
/**
 * Credentials stay in capitals, as the detectors expect them after a name ("JANE ROE RN"); DO is a word too, and PA is
 * Pennsylvania after an organisation's name ("COMMUNITY HEALTHCARE KANSAS, PA").
 */
const CAPS_CREDENTIALS = new Set(
  EN_CREDENTIALS.split('|')
    .filter((c) => /^[A-Za-z]+$/.test(c) && c !== 'DO' && c !== 'PA')
    .map((c) => c.toUpperCase()),
);
const CAPS_TITLES = new Set(EN_TITLES.map((t) => t.toUpperCase()));
const CAPS_STREET_SUFFIXES = new Set(
  'ST STREET RD ROAD AVE AVENUE DR DRIVE LN LANE CT COURT BLVD PKWY HWY PL SQ TER CIR WAY TRL'.split(' '),
);

/**
 * A line mostly in capitals (legacy systems, report headers, dictation: "SEEN BY DR. JOHN SMITH") read as the detectors
 * read mixed case: the words above lower case, titles and every other word of two or more letters in Title case
 * (JOHN → John, KOWALCZYK → Kowalczyk). Same length, so spans found in it are spans of the text. Undefined when no line
 * is in capitals. The name, address and date detectors go by case; in capitals they found no name at all.
 */
function readCapitalsAsTitleCase(text: string): string | undefined {
  const parts: string[] = [];
  let done = 0;
  for (const line of text.matchAll(/[^\n]+/g)) {
    const l = line[0];
    let upper = 0;
    let lower = 0;
    for (let i = 0; i < l.length; i++) {
      const c = l.charCodeAt(i);
      if (c >= 65 && c <= 90) upper++;
      else if (c >= 97 && c <= 122) lower++;
    }
    if (upper < 6 || upper < 3 * lower) continue;
    // "IS A 54 YEAR-OLD" as the age detectors read it: the article in lower case.
    const titled = l.replace(CAPS_WORD, (w: string, at: number) => {
      if (w === 'A') return 'a';
      const low = w.toLowerCase();
      if (low.length !== w.length) return w; // a letter whose lower case is longer (İ): spans must keep their offsets
      if (CAPS_AS_LOWER.has(low)) return low;
      if (CAPS_CREDENTIALS.has(w)) return w;
      const title = w[0] + low.slice(1);
      // A street's suffix after its number and name: "123 MAIN ST", "930 HAYES DR".
      if (CAPS_STREET_SUFFIXES.has(w) && /\d+(?: [A-Z][A-Z'’-]*)+ $/.test(l.slice(0, at))) return title;
      // A title only before its period or a name the dictionaries know: "DR. JOHN SMITH", "DR SMITH", but
      // "NEIGHBOURHOOD DR NBR" is a street. MR and MS are as often medicine (an MRI, mitral stenosis): without their
      // period only a given name makes them titles ("MR JOHN SMITH", not "MR BRAIN": Brain is a surname too).
      if (CAPS_TITLES.has(w)) {
        const next = /^(\.)|^ ([A-Z][A-Z'’-]+)/.exec(l.slice(at + w.length));
        if (!next) return w;
        if (next[1]) return title;
        const known =
          w === 'MR' || w === 'MS' ? EN_GIVEN_NAMES.has(next[2].toLowerCase()) : isDictionaryName(next[2]);
        return known ? title : w;
      }
      // A code, not a word: beside a digit or a field separator (HL7's GT1|, PID|, PT:SER/PLAS); a label's colon
      // ("MOTHER: JANE DOE") is none.
      const after = l.slice(at + w.length, at + w.length + 2);
      if (/[|^:/\d]/.test(l[at - 1] ?? '') || /^(?:[|^/\d]|:[^ ])/.test(after)) return w;
      // A state's code after a city's comma ("WORCESTER, MA"): as text.us-city-state-code reads it.
      if (w.length === 2 && US_STATE_CODES.has(w) && /[A-Z], ?$/.test(l.slice(0, at))) return w;
      // Verbs, adverbs and abstract nouns no dictionary names (REVIEWED, BRIEFLY, ADMISSION): a name is rarely so.
      if (low.length > 4 && COMMON_WORD_ENDING.test(low) && !isDictionaryName(low)) return low;
      return title;
    });
    parts.push(text.slice(done, line.index), titled);
    done = line.index + l.length;
  }
  if (!parts.length) return undefined;
  parts.push(text.slice(done));
  return parts.join('');
}

function detectorSpans(folded: string): Span[] {
  const spans = detectorPass(folded);
  // Lines in capitals are read again in Title case; both readings' spans count (the capitals keep MRN, DOB and state
  // codes as their detectors expect them).
  const titled = readCapitalsAsTitleCase(folded);
  if (titled !== undefined) for (const span of detectorPass(titled)) spans.push(span);
  return spans;
}

function detectorPass(folded: string): Span[] {
  const spans: Span[] = [];
  const hasDigit = /\d/.test(folded);
  for (let d = 0; d < DETECTOR_LIST.length; d++) {
    const det = DETECTOR_LIST[d];
    if (det.needs && !det.needs.test(folded)) continue;
    if (
      !hasDigit &&
      !det.digitFree &&
      det.type !== 'name' &&
      det.type !== 'address' &&
      det.type !== 'hospital'
    )
      continue;
    const re = det.re;
    re.lastIndex = 0;
    for (let m = re.exec(folded); m; m = re.exec(folded)) {
      if (m[0].length === 0) {
        re.lastIndex++;
        continue;
      }
      if (det.accept && !det.accept(m, folded)) {
        if (det.retryFrom) re.lastIndex = m.index + det.retryFrom(m);
        continue;
      }
      let start = m.index;
      const end = m.index + m[0].length;
      if (det.lastGroup) {
        const g = m[m.length - 1];
        if (!g) continue;
        start = end - g.length;
      }
      if (det.parts) {
        for (const [a, b] of det.parts(m))
          spans.push({
            start: m.index + a,
            end: m.index + b,
            type: det.type,
            rule: det.rule,
            priority: det.priority,
          });
        continue;
      }
      let date: DateParts | undefined;
      if (det.date) {
        date = det.date(m);
        if (!date || !validDate(date.y, date.m, date.d)) continue;
      }
      spans.push({ start, end, type: det.type, rule: det.rule, priority: det.priority, date });
    }
  }
  return spans;
}

function findSpans(
  folded: string,
  identifiers: readonly OwnIdentifier[] | undefined,
  literals?: readonly string[],
): Span[] {
  const spans: Span[] = [];
  if (literals && literals.length) {
    const found = findLiterals(folded.toLowerCase(), literals);
    for (let i = 0; i < found.length; i++)
      spans.push({
        start: found[i].start,
        end: found[i].end,
        type: 'mrn',
        rule: 'text.record-identifier',
        priority: RECORD_IDENTIFIER,
      });
  }
  const cacheable = folded.length <= CLEAN_MAX_LENGTH;
  let clean: Set<string> | undefined;
  if (cacheable) {
    const key = identifiers ?? NO_IDENTIFIERS;
    clean = cleanCache.get(key);
    if (!clean) cleanCache.set(key, (clean = new Set()));
    if (clean.has(folded)) return spans;
  }
  const before = spans.length;
  if (identifiers && identifiers.length) {
    const key = matchKey(folded);
    const owns = compileOwnIdentifiers(identifiers);
    for (let o = 0; o < owns.length; o++) {
      const own = owns[o];
      const type = own.type;
      // A birth date found by the date detectors is shifted like any date; only otherwise is it tagged here.
      const priority = type === 'date' ? 59 : RECORD_IDENTIFIER;
      const matches = identifierMatches(own, folded, key);
      for (let i = 0; i < matches.length; i++) {
        const { start, end } = matches[i];
        // The patient may be called Parkinson; "Parkinson's disease" in their note stays medicine.
        if (type === 'name' && followedByEponymWord(folded, end)) continue;
        spans.push({ start, end, type, rule: 'text.record-identifier', priority });
      }
    }
  }
  const generic = cacheable ? detectorSpansCached(folded) : detectorSpans(folded);
  for (let i = 0; i < generic.length; i++) spans.push(generic[i]);
  if (clean && spans.length === before) {
    if (clean.size >= CLEAN_MAX_ENTRIES) clean.clear();
    clean.add(folded);
  }
  return resolveOverlaps(spans);
}

/**
 * Overlapping spans merge into one covering their union, typed by the longest (then highest-priority) member: a name
 * found inside an e-mail address must not leave the rest of the address behind.
 */
function resolveOverlaps(spans: Span[]): Span[] {
  if (spans.length < 2) return spans;
  spans.sort((a, b) => a.start - b.start || b.end - a.end);
  const out: Span[] = [];
  let cur = spans[0];
  let end = cur.end;
  let start = cur.start;
  const better = (a: Span, b: Span) =>
    b.end - b.start > a.end - a.start || (b.end - b.start === a.end - a.start && b.priority > a.priority);
  for (let i = 1; i < spans.length; i++) {
    const s = spans[i];
    if (s.start < end) {
      if (better(cur, s)) cur = s;
      end = Math.max(end, s.end);
      continue;
    }
    out.push(widen(cur, start, end));
    cur = s;
    start = s.start;
    end = s.end;
  }
  out.push(widen(cur, start, end));
  return out;
}

function widen(s: Span, start: number, end: number): Span {
  if (s.start === start && s.end === end) return s;
  // A date widened by neighbours no longer prints back in its own format: tag or surrogate the whole.
  return { ...s, start, end, date: undefined };
}

function replacementFor(span: Span, original: string, ctx: ScrubTextContext, contextYear?: number): string {
  if (span.type === 'date') {
    const offset =
      ctx.dateOffsetDays ?? (ctx.linkage ? ctx.keyService.dateOffsetDays(ctx.linkage) : undefined);
    let dp = span.date;
    // Chinese notes write 05/03/2024 day first.
    if (
      dp &&
      ctx.locale === 'zh' &&
      span.rule === 'text.date-mdy' &&
      dp.d !== undefined &&
      dp.d <= 12 &&
      dp.m !== dp.d
    ) {
      const { m, d } = dp;
      const f = dp.format;
      dp = { ...dp, m: d, d: m, format: (y, nm, nd) => f(y, nd, nm) };
    }
    if (ctx.mode === 'tag' || offset === undefined || !dp) return TAGS.date;
    const on = ctx.referenceDate ?? new Date();
    const topAge = ctx.topAge ?? SAFE_HARBOR_TOP_AGE;
    // Safe Harbor: every element of a date that says its person is over topAge, the year included, goes into one
    // class. A shift of days leaves the year of 1931; the class's year is what a structured birth date becomes.
    if (dp.yearOnly)
      return dp.y !== undefined && on.getUTCFullYear() - dp.y > topAge ? topClassYear(on, topAge) : original;
    // A date without a year is shifted within the year the note last named (else the first it names): "入院日期：
    // 2024年6月2日 … 于6月2日入院" must land on the same day, and across a 29 February only the right year does.
    const baseYear = dp.y ?? contextYear ?? 2001;
    const [y, m, d] = addDays(baseYear, dp.m, dp.d ?? 15, offset);
    if (dp.y !== undefined && isOlderThan(`${pad4(y)}-${pad2(m)}-${pad2(d)}`, on, topAge)) {
      const classYear = topClassYear(on, topAge);
      return /年/.test(original) ? `${classYear}年` : classYear;
    }
    return dp.format(y, m, d);
  }
  if (ctx.mode === 'tag') return TAGS[span.type] ?? '[REDACTED]';
  return surrogateFor(
    ctx.keyService,
    span.type,
    original,
    ctx.linkage,
    readsAsOwnIdentifier(ctx.identifiers),
  );
}

const NEVER = (): boolean => false;
const ownCheckCache = new WeakMap<readonly OwnIdentifier[], (candidate: string) => boolean>();

/**
 * Whether a string contains one of the record's own identifiers, matched as the gate matches them (any case,
 * spacing, full-width): surrogates that would must be redrawn (surrogateFor's `avoid`).
 */
export function readsAsOwnIdentifier(
  identifiers: readonly OwnIdentifier[] | undefined,
): (candidate: string) => boolean {
  if (!identifiers || identifiers.length === 0) return NEVER;
  let check = ownCheckCache.get(identifiers);
  if (!check) {
    const list = compileOwnIdentifiers(identifiers);
    check = (candidate) => {
      const folded = foldWidth(candidate);
      const key = matchKey(folded);
      for (const own of list) if (identifierMatches(own, folded, key, 1).length) return true;
      return false;
    };
    ownCheckCache.set(identifiers, check);
  }
  return check;
}

/**
 * Scrub free text: the record's own identifiers wherever they appear, then checksummed IDs, phones, e-mail, URLs,
 * IPs, dates (shifted by the patient's offset), record numbers by context, names by context and dictionaries,
 * addresses. Findings carry the rule, the type and offsets, never the text.
 */
export function scrubText(text: string, ctx: ScrubTextContext, path = 'text'): ScrubTextResult {
  if (!text) return { text, findings: [] };
  const folded = foldWidth(text);
  let spans = findSpans(folded, ctx.identifiers, ctx.literalIdentifiers);
  if (ctx.keepTypes?.length) spans = spans.filter((s) => !ctx.keepTypes!.includes(s.type));
  if (!spans.length) return { text, findings: [] };
  let out = '';
  let at = 0;
  const findings: TextFinding[] = [];
  let contextYear = spans.find((s) => s.date?.y !== undefined)?.date?.y;
  for (const s of spans) {
    out += text.slice(at, s.start);
    if (s.date?.y !== undefined) contextYear = s.date.y;
    out += replacementFor(s, folded.slice(s.start, s.end), ctx, contextYear);
    at = s.end;
    findings.push({ rule: s.rule, type: s.type, path, start: s.start, end: s.end });
  }
  out += text.slice(at);
  return { text: out, findings };
}

/** Spans only (for measuring recall and precision): type and offsets in the original text. */
export function detectPhi(
  text: string,
  identifiers?: readonly OwnIdentifier[],
): { type: string; rule: string; start: number; end: number }[] {
  return findSpans(foldWidth(text), identifiers).map(({ type, rule, start, end }) => ({
    type,
    rule,
    start,
    end,
  }));
}
