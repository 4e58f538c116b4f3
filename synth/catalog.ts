/** Clinical vocabulary the generator draws from: diagnoses (some eponymous), lab tests with unit variants, drugs. */

export interface DiagnosisDef {
  icd10: string;
  en: string;
  zh: string;
  chestPain?: boolean;
}

export const diagnoses: readonly DiagnosisDef[] = [
  { icd10: 'I21.9', en: 'Acute myocardial infarction', zh: '急性心肌梗死', chestPain: true },
  { icd10: 'I20.0', en: 'Unstable angina', zh: '不稳定型心绞痛', chestPain: true },
  { icd10: 'R07.4', en: 'Chest pain, unspecified', zh: '胸痛', chestPain: true },
  { icd10: 'E11.9', en: 'Type 2 diabetes mellitus without complications', zh: '2型糖尿病' },
  { icd10: 'I10', en: 'Essential (primary) hypertension', zh: '原发性高血压' },
  { icd10: 'J18.9', en: 'Pneumonia, unspecified organism', zh: '肺炎' },
  { icd10: 'N18.3', en: 'Chronic kidney disease, stage 3', zh: '慢性肾脏病3期' },
  { icd10: 'G20', en: "Parkinson's disease", zh: '帕金森病' },
  { icd10: 'C81.90', en: 'Hodgkin lymphoma, unspecified', zh: '霍奇金淋巴瘤' },
  { icd10: 'E05.00', en: "Graves' disease", zh: 'Graves病（毒性弥漫性甲状腺肿）' },
  { icd10: 'K50.90', en: "Crohn's disease", zh: '克罗恩病' },
  { icd10: 'E27.1', en: "Addison's disease", zh: '艾迪生病' },
  { icd10: 'G51.0', en: "Bell's palsy", zh: '贝尔面瘫' },
  { icd10: 'S72.001A', en: 'Fracture of neck of right femur', zh: '右股骨颈骨折' },
];

export interface LabDef {
  localCode: string;
  loinc: string;
  en: string;
  zh: string;
  /** Units with value ranges [low normal, high normal, plausible min, plausible max], first is SI. */
  units: readonly { unit: string; normal: [number, number]; range: [number, number]; decimals: number }[];
}

export const labs: readonly LabDef[] = [
  {
    localCode: 'GLU',
    loinc: '2345-7',
    en: 'Glucose',
    zh: '葡萄糖',
    units: [
      { unit: 'mmol/L', normal: [3.9, 6.1], range: [2.8, 22], decimals: 1 },
      { unit: 'mg/dL', normal: [70, 110], range: [50, 400], decimals: 0 },
    ],
  },
  {
    localCode: 'K',
    loinc: '2823-3',
    en: 'Potassium',
    zh: '钾',
    units: [{ unit: 'mmol/L', normal: [3.5, 5.3], range: [2.6, 6.8], decimals: 1 }],
  },
  {
    localCode: 'NA',
    loinc: '2951-2',
    en: 'Sodium',
    zh: '钠',
    units: [{ unit: 'mmol/L', normal: [137, 147], range: [120, 160], decimals: 0 }],
  },
  {
    localCode: 'CREA',
    loinc: '2160-0',
    en: 'Creatinine',
    zh: '肌酐',
    units: [
      { unit: 'umol/L', normal: [44, 133], range: [30, 600], decimals: 0 },
      { unit: 'mg/dL', normal: [0.5, 1.5], range: [0.3, 6.8], decimals: 2 },
    ],
  },
  {
    localCode: 'HGB',
    loinc: '718-7',
    en: 'Hemoglobin',
    zh: '血红蛋白',
    units: [
      { unit: 'g/L', normal: [120, 160], range: [60, 190], decimals: 0 },
      { unit: 'g/dL', normal: [12, 16], range: [6, 19], decimals: 1 },
    ],
  },
  {
    localCode: 'TNI',
    loinc: '10839-9',
    en: 'Troponin I',
    zh: '肌钙蛋白I',
    units: [{ unit: 'ng/mL', normal: [0, 0.04], range: [0, 25], decimals: 2 }],
  },
  {
    localCode: 'CHOL',
    loinc: '2093-3',
    en: 'Cholesterol',
    zh: '总胆固醇',
    units: [
      { unit: 'mmol/L', normal: [2.8, 5.2], range: [2, 10], decimals: 2 },
      { unit: 'mg/dL', normal: [110, 200], range: [80, 390], decimals: 0 },
    ],
  },
  {
    localCode: 'WBC',
    loinc: '6690-2',
    en: 'Leukocytes',
    zh: '白细胞计数',
    units: [{ unit: '10*9/L', normal: [4, 10], range: [1, 30], decimals: 1 }],
  },
];

export interface DrugDef {
  rxnorm: string;
  en: string;
  zh: string;
  dose: number;
  doseUnit: string;
  route: string;
  routeZh: string;
  frequency: string;
  frequencyZh: string;
  nrdlKind: 1 | 2;
  atc: string;
}

export const drugs: readonly DrugDef[] = [
  {
    rxnorm: '617314',
    en: 'Atorvastatin 20 MG Oral Tablet',
    zh: '阿托伐他汀钙片',
    dose: 20,
    doseUnit: 'mg',
    route: 'PO',
    routeZh: '口服',
    frequency: 'QD',
    frequencyZh: '每日一次',
    nrdlKind: 1,
    atc: 'XC10AA',
  },
  {
    rxnorm: '861007',
    en: 'Metformin hydrochloride 500 MG Oral Tablet',
    zh: '盐酸二甲双胍片',
    dose: 500,
    doseUnit: 'mg',
    route: 'PO',
    routeZh: '口服',
    frequency: 'BID',
    frequencyZh: '每日两次',
    nrdlKind: 1,
    atc: 'XA10BA',
  },
  {
    rxnorm: '243670',
    en: 'Aspirin 81 MG Oral Tablet',
    zh: '阿司匹林肠溶片',
    dose: 100,
    doseUnit: 'mg',
    route: 'PO',
    routeZh: '口服',
    frequency: 'QD',
    frequencyZh: '每日一次',
    nrdlKind: 1,
    atc: 'XB01AC',
  },
  {
    rxnorm: '197361',
    en: 'Amlodipine 5 MG Oral Tablet',
    zh: '苯磺酸氨氯地平片',
    dose: 5,
    doseUnit: 'mg',
    route: 'PO',
    routeZh: '口服',
    frequency: 'QD',
    frequencyZh: '每日一次',
    nrdlKind: 1,
    atc: 'XC08CA',
  },
  {
    rxnorm: '309362',
    en: 'Clopidogrel 75 MG Oral Tablet',
    zh: '硫酸氢氯吡格雷片',
    dose: 75,
    doseUnit: 'mg',
    route: 'PO',
    routeZh: '口服',
    frequency: 'QD',
    frequencyZh: '每日一次',
    nrdlKind: 2,
    atc: 'XB01AC',
  },
  {
    rxnorm: '197444',
    en: 'Carbidopa 25 MG / Levodopa 250 MG Oral Tablet',
    zh: '卡左双多巴片',
    dose: 1,
    doseUnit: '片',
    route: 'PO',
    routeZh: '口服',
    frequency: 'TID',
    frequencyZh: '每日三次',
    nrdlKind: 1,
    atc: 'XN04BA',
  },
  {
    rxnorm: '198053',
    en: 'Omeprazole 20 MG Delayed Release Oral Capsule',
    zh: '奥美拉唑肠溶胶囊',
    dose: 20,
    doseUnit: 'mg',
    route: 'PO',
    routeZh: '口服',
    frequency: 'QD',
    frequencyZh: '每日一次',
    nrdlKind: 1,
    atc: 'XA02BC',
  },
  {
    rxnorm: '261551',
    en: 'Insulin glargine 100 UNT/ML Injectable Solution',
    zh: '甘精胰岛素注射液',
    dose: 10,
    doseUnit: 'U',
    route: 'SC',
    routeZh: '皮下注射',
    frequency: 'QN',
    frequencyZh: '每晚一次',
    nrdlKind: 2,
    atc: 'XA10AE',
  },
  {
    rxnorm: '1807632',
    en: 'Ceftriaxone 1000 MG Injection',
    zh: '注射用头孢曲松钠',
    dose: 2,
    doseUnit: 'g',
    route: 'IV',
    routeZh: '静脉滴注',
    frequency: 'QD',
    frequencyZh: '每日一次',
    nrdlKind: 1,
    atc: 'XJ01DD',
  },
  {
    rxnorm: '854235',
    en: 'Enoxaparin 40 MG/0.4ML Prefilled Syringe',
    zh: '依诺肝素钠注射液',
    dose: 40,
    doseUnit: 'mg',
    route: 'SC',
    routeZh: '皮下注射',
    frequency: 'QD',
    frequencyZh: '每日一次',
    nrdlKind: 2,
    atc: 'XB01AB',
  },
];
