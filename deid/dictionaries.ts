/**
 * Word lists for name detection and surrogates. Detection uses them with context (titles, 患者, 先生...), never
 * alone on capitalized words; medical eponyms and drug names are listed so that they survive.
 */
import { readFileSync } from 'node:fs';

/** A word list in deid/tables: one lower-case word per line, '#' comments. */
function readWordList(name: string): string[] {
  return readFileSync(new URL(`./tables/${name}`, import.meta.url), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

/** A Latin letter with a diacritic (Latin-1 and Latin Extended-A); Chinese words never pay for the folding. */
const LATIN_DIACRITIC = /[À-ÖØ-öø-ž]/;

/**
 * Words that also answer for a word written with its diacritics (the census writes Joaquin, Rene, Sjogren: Joaquín,
 * René, Zoë are names and Sjögren an eponym, which plain lookups missed), and the other way round.
 */
class FoldedWordSet extends Set<string> {
  constructor(words: Iterable<string>) {
    super();
    // An entry written with its diacritics (GeoNames' Española) answers for the word written without them too.
    for (const w of words) {
      super.add(w);
      if (LATIN_DIACRITIC.test(w)) super.add(foldDiacritics(w));
    }
  }

  override has(word: string): boolean {
    return super.has(word) || (LATIN_DIACRITIC.test(word) && super.has(foldDiacritics(word)));
  }
}

function foldDiacritics(word: string): string {
  return word.normalize('NFD').replace(/\p{M}/gu, '');
}

/**
 * Given names: a hand-made list (the commonest US names and the short forms people go by), and the 1990 US Census's
 * 4,199 more that are not common English words, surnames or places (deid/tables says how they were chosen). A given
 * name and any capitalized word after it is a person (text.name-dictionary): with the hand-made list alone, 24 of 198
 * sentences naming one of the Synthea sample's 66 people without a context word found the name (now 171).
 */
export const EN_GIVEN_NAMES: ReadonlySet<string> = new FoldedWordSet([
  ...readWordList('census-1990-given-names.txt'),
  ...(
    'james john robert michael william david richard joseph thomas charles christopher daniel matthew anthony mark ' +
    'donald steven paul andrew joshua kenneth kevin brian george timothy ronald edward jason jeffrey ryan jacob gary ' +
    'nicholas eric jonathan stephen larry justin scott brandon benjamin samuel gregory alexander frank patrick ' +
    'raymond jack dennis jerry tyler aaron jose adam nathan henry douglas zachary peter kyle ethan walter noah ' +
    'jeremy christian keith roger terry gerald harold sean austin carl arthur lawrence dylan jesse jordan bryan ' +
    'billy joe bruce gabriel logan albert willie alan juan wayne elijah randy roy vincent ralph eugene russell ' +
    'bobby mason philip louis mary patricia jennifer linda elizabeth barbara susan jessica sarah karen lisa nancy ' +
    'betty margaret sandra ashley kimberly emily donna michelle carol amanda dorothy melissa deborah stephanie ' +
    'rebecca sharon laura cynthia kathleen amy angela shirley anna brenda pamela emma nicole helen samantha ' +
    'katherine christine debra rachel carolyn janet catherine maria heather diane ruth julie olivia joyce virginia ' +
    'victoria kelly lauren christina joan evelyn judith megan andrea cheryl hannah jacqueline martha gloria teresa ' +
    'ann sara madison frances kathryn janice jean abigail alice judy sophia grace denise amber doris marilyn ' +
    'danielle beverly isabella theresa diana natalie brittany charlotte marie kayla alexis lori sumiko larue ' +
    'liane chelsey marine wei li ming jun hui ying ' +
    // Short forms people go by ("her husband Tom"); not those that are also common words (Will, Pat, Sue, Bill).
    'tom bob jim jimmy mike dave steve chris liz beth kate katie jen jenny tony rick ben sam alex nick harry eddie ' +
    'fred hank joey johnny kenny matt pete phil ron ronnie stan ted tim vince walt andy danny doug greg jeff josh ' +
    'meg peggy maggie sally annie becky cathy debbie jackie jess jessie kathy kim lucy molly patty tina vicky wendy'
  ).split(' '),
]);

/**
 * Given names that are also English words (Hazel, Rocky, Dawn) and the commonest surnames that are not (Schultz,
 * Kowalski): together a person ("Hazel Schultz"), either alone not (deid/tables says where they come from).
 */
export const EN_GIVEN_NAME_WORDS: ReadonlySet<string> = new FoldedWordSet(
  readWordList('census-1990-given-name-words.txt'),
);
export const EN_CENSUS_SURNAMES: ReadonlySet<string> = new FoldedWordSet(
  readWordList('census-1990-surnames.txt'),
);

export const EN_SURNAMES: ReadonlySet<string> = new FoldedWordSet(
  (
    'smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez gonzalez wilson ' +
    'anderson thomas taylor moore jackson martin lee perez thompson white harris sanchez clark ramirez lewis ' +
    'robinson walker young allen king wright scott torres nguyen hill flores green adams nelson baker hall rivera ' +
    'campbell mitchell carter roberts gomez phillips evans turner diaz parker cruz edwards collins reyes stewart ' +
    'morris morales murphy cook rogers gutierrez ortiz morgan cooper peterson bailey reed kelly howard ramos kim ' +
    'cox ward richardson watson brooks chavez wood james bennett gray mendoza ruiz hughes price alvarez castillo ' +
    'sanders patel myers long ross foster jimenez medhurst cummerata vonrueden kunze simonis upton keeling ' +
    'romaguera dach wang zhang chen liu yang huang zhao wu zhou xu sun ma zhu hu guo he lin luo'
  ).split(' '),
);

/** Words that look like names but are medicine: eponyms (as the word before disease/syndrome...) and drugs. */
export const MEDICAL_TERMS: ReadonlySet<string> = new FoldedWordSet(
  (
    'parkinson alzheimer hodgkin crohn down graves addison cushing bell huntington wilson hashimoto kawasaki ' +
    'raynaud tourette asperger guillain barre marfan turner klinefelter sjogren behcet paget kaposi wernicke ' +
    'korsakoff meniere osgood schlatter legg perthes ewing wilms burkitt barrett apgar glasgow babinski murphy ' +
    'mcburney kernig brudzinski homan trendelenburg romberg tinel phalen lachman colles smith monteggia galeazzi ' +
    'bennett jones boxer hirschsprung meckel zenker whipple kussmaul cheyne stokes korotkoff starling frank ' +
    'duchenne becker tay sachs gaucher fabry pompe niemann pick hurler hunter rett angelman prader willi noonan ' +
    'edwards patau dandy walker arnold chiari bartter gitelman conn cushing addison nelson sheehan stein ' +
    'leventhal lyme rocky epstein barr coxsackie hansen pott still reiter takayasu wegener churg strauss ' +
    'henoch schonlein bowen merkel gleason breslow clark dukes ann arbor bishop apgar ' +
    'metformin insulin aspirin atorvastatin lisinopril amlodipine warfarin heparin clopidogrel omeprazole ' +
    'levothyroxine simvastatin losartan gabapentin hydrochlorothiazide furosemide prednisone amoxicillin ' +
    'azithromycin ibuprofen acetaminophen paracetamol morphine fentanyl naloxone digoxin'
  ).split(' '),
);

/**
 * Capitalized words that follow a relative or a contact in notes without naming anyone: family history ("Mother:
 * Hypertension", "Father: Diabetes mellitus", "Brother: Healthy") and services ("Contact: Emergency Department").
 */
export const EN_NOT_NAME_WORDS = new Set(
  (
    'healthy deceased alive living unknown none negative positive noncontributory adopted hypertension diabetes ' +
    'mellitus cancer carcinoma disease stroke asthma copd dementia depression arthritis obesity heart attack ' +
    'failure breast colon lung prostate ovarian kidney renal liver coronary artery myocardial infarction ' +
    'emergency department clinic hospital pharmacy unit services service office center team nursing home family ' +
    'spanish english chinese mandarin cantonese french arabic vietnamese russian monday tuesday wednesday ' +
    'thursday friday saturday sunday type stage grade internal medicine surgery cardiology radiology oncology ' +
    'neurology pediatrics psychiatry urgent care primary ambulance police paramedics staff ' +
    'social work physical occupational therapy nutrition chaplaincy case management hispanic latino latina caucasian ' +
    // organizations and places after a given-name-like word (Pfizer Asia Pacific, Parke-Davis Div, Max Life Insurance)
    'pacific atlantic reservation insurance div division inc corp corporation company ltd llc laboratories ' +
    'laboratory labs pharmaceuticals pharma manor life health hospice rehab dialysis imaging church'
  ).split(' '),
);

/**
 * US places of 15,000 people or more (GeoNames, via deid/tables/us-cities-geonames.txt, which says which names were
 * left out as English words), as written: a place after in, to, from, at or near is one whatever the sentence says.
 */
export const US_CITIES: ReadonlySet<string> = new FoldedWordSet(readWordList('us-cities-geonames.txt'));

/**
 * US places of 500 people or more in the states whose postal codes are words, credentials or medicine too (MA, MD, PA,
 * MS, OR, IN...), as `<code> <name>` ("MA Worcester"): GeoNames via deid/tables/us-places-by-ambiguous-state.txt.
 */
export const US_PLACES_BY_AMBIGUOUS_STATE: ReadonlySet<string> = new FoldedWordSet(
  readWordList('us-places-by-ambiguous-state.txt'),
);

/** Words after which a capitalized name is an eponym, not a person: "Parkinson disease", "Graves' disease". */
export const EPONYM_FOLLOWERS =
  /^(?:'s|’s|')?\s*(?:disease|syndrome|sign|test|reflex|palsy|lymphoma|sarcoma|tumou?r|fracture|procedure|operation|score|scale|classification|criteria|maneuver|manoeuvre|triad|phenomenon|ulcer|esophagus|oesophagus|anomaly|diverticulum|respiration|node|nodes|cell|cells|type|law|equation|point|incision|staging|stage)\b/i;

/** Whether the text after a name match (ending at `end`) makes it an eponym ("Parkinson's disease"). */
export function followedByEponymWord(text: string, end: number): boolean {
  return EPONYM_FOLLOWERS.test(text.slice(end, end + 40));
}

/** Common Chinese surnames (single and compound) for name detection with context. */
export const ZH_SURNAMES =
  '王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝';
export const ZH_COMPOUND_SURNAMES = [
  '欧阳',
  '司马',
  '上官',
  '诸葛',
  '东方',
  '皇甫',
  '尉迟',
  '公孙',
  '慕容',
  '长孙',
  '夏侯',
  '令狐',
];

/** Chinese disease and drug words that begin with a surname character and must survive (帕金森病 is safe anyway). */
export const ZH_MEDICAL_TERMS = [
  '高血压',
  '高血糖',
  '高血脂',
  '高热',
  '白细胞',
  '白蛋白',
  '黄疸',
  '钱币',
  '胡言',
  '石膏',
  '金黄色',
  '甘油',
  '史蒂文斯',
  // Found after 患者, 母亲, 姐姐 in notes written to probe (患者房颤，姐姐白内障。); the 高 words are those of the labs.
  '白内障',
  '白癜风',
  '白血病',
  '房颤',
  '房扑',
  '房缺',
  '房早',
  '高烧',
  '高龄',
  '高危',
  '高钾',
  '高钠',
  '高钙',
  '高糖',
  '高脂',
  '高凝',
  '高渗',
  '高尿酸',
  '牛皮癣',
  '毛囊炎',
  '石淋',
  // Traditional medicines (as a family member's or a patient's medication, right after the word).
  '何首乌',
  '党参',
  '连翘',
  '甘草',
  '黄芪',
  '黄连',
  '黄芩',
  '白术',
  '白芍',
  '柴胡',
  '杜仲',
  '桂枝',
  '丁香',
  '麻黄',
  '牛黄',
  '金银花',
  '熊胆',
  '蒲公英',
  '葛根',
  '车前',
];

/**
 * Words that begin with a surname character and follow 患者, 家属 or 医师 in notes (患者全身乏力, 医师查房): a name
 * detector that starts at the surname would take them, and the medicine after them, as a name.
 */
export const ZH_COMMON_WORDS = [
  '全身',
  '时有',
  '时而',
  '常感',
  '常规',
  '明显',
  '明日',
  '明天',
  '安静',
  '方可',
  '应予',
  '应用',
  '成功',
  '单侧',
  '解便',
  '华法林',
  '查房',
  '查体',
  '查看',
  '管床',
  '申请',
  '包括',
  '宁可',
  '文化',
  '龙胆',
  '于是',
  // Sentence openings that read like a name and a clause (常见因素, 成人男性, 单身男，, 马上入院).
  '常见',
  '成人',
  '单身',
  '马上',
  // Field names after 签字, 代理人, 联系人 on forms (签字时间：, 法定代理人关系：, 联系人单位：).
  '时间',
  '关系',
  '方式',
  '单位',
  '单号',
  '宗教',
  '项目',
  '金额',
  '费用',
];

/** Surrogate pools (obviously synthetic-but-realistic). */
export const SURROGATE_EN_GIVEN = (
  'Alex Jordan Taylor Morgan Casey Riley Jamie Avery Quinn Rowan Harper Emerson Finley Dakota Reese Skyler ' +
  'Cameron Parker Sawyer Hayden Elliot Logan Blake Drew Kendall Micah Peyton Sage Tatum Shawn'
).split(' ');
export const SURROGATE_EN_FAMILY = (
  'Ashford Bramley Calloway Dunmore Ellery Fairbanks Garrick Hollis Ingram Jessup Kingsley Lockhart Merriweather ' +
  'Northcott Oakley Pembroke Quimby Radcliffe Stanhope Thornbury Underhill Vance Whitlock Yardley Ainsley ' +
  'Beaumont Carraway Delacroix Everly Fenwick Galloway'
).split(' ');
/** Towns for a city in English text. */
export const SURROGATE_EN_TOWNS =
  'Millbrook Fairhaven Glenwood Oakridge Riverton Maplewood Westbury Brookside Pinehurst Lakemont'.split(' ');
export const SURROGATE_ZH_FAMILY = '赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜'.split(
  '',
);
// Rare, literary given names, none of them in the synthetic generator's lists: a surrogate should not be some real
// person's name in the same release. The popular modern names this list held (子涵, 雨桐, 梓萱, 欣怡, 宇轩...) could
// make a surrogate such as 王子涵 that is another patient's real name: the generator itself draws 子涵 and 雨桐.
export const SURROGATE_ZH_GIVEN = (
  '望舒 扶摇 疏影 临渊 鹤鸣 栖梧 漱石 枕流 怀瑾 握瑜 青崖 鸿渐 归荑 采薇 蒹葭 如琢 ' +
  '南乔 兰泽 问渠 观澜 浩邈 博衍 知远 芷若 砚秋 听澜 静姝 嘉懿 清扬 语嫣 景行 慕白'
).split(' ');
